"""The Ray driver of a run, in a process of its own: ``python -m coordinator.io.raydriver R W``.

Why a separate process: Ray's driver core worker ends the process it lives in when the
cluster it is attached to goes away (its head dies), with no exception to catch. In a child,
that ends only the child; the coordinator (``coordinator.io.rayexec``) sees the pipe close and
stops the run as on Ctrl-C, keeping its work. The child is the only process that imports Ray
for a run; it does no git and writes no file: it submits tasks, streams back what their nodes
yield, retries tasks whose node died, and cancels on request.

The wire: two pipes (``R`` read, ``W`` written, file descriptors passed by the parent),
``multiprocessing.connection`` framing (pickle, trusted both ways: both ends are this package).
Parent to child: ``("init", RayConfig, caps)`` first, answered by ``("ready", head)`` (the
head's ``HOST:PORT``: the parent probes it, as Ray's driver waits a minute for a head that is
gone before it gives up) or ``("unreachable", why)``; then ``("start", key, job, agent_type,
base, bundle)`` (``bundle`` bytes only the first time a base is sent; both ends keep the same
last ``BUNDLES_KEPT`` bases, in the order of the start messages), ``("cancel", key)``,
``("offers",)`` answered by ``("offers", {type: n})``, and ``("close",)``, answered by
``("closed",)`` before it exits.
Child to parent, per task ``key``: ``("started", key, node, try)``, ``("log", key, bytes)``,
``("setup", key, (ok, detail, seconds))``,
``("lost", key, node, detail, retrying)``, then one of ``("done", key, NodeResult)`` or
``("end", key, why, detail)`` with ``why`` in cancelled, lost, failed, cluster.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from coordinator.core.configtables import RayConfig
from coordinator.io.raynode import NodeItem, NodeJob, NodeResult, run_task

RESOURCE_PREFIX = "agent:"
LOCAL_OBJECT_STORE = 256 * 1024**2  # bytes, for ``address = "local"``: bundles, not data sets
BUNDLES_KEPT = 8  # base bundles kept in the object store (the newest bases)
CONNECT_TIMEOUT = 10.0  # seconds a cluster's address gets to answer at the start of a run
CLOSE_WAIT = 30.0  # seconds ``close`` waits for the threads that follow tasks


def resource(agent_type: str) -> str:
    """The Ray custom resource a node offers for an agent type: ``agent:claude``."""
    return f"{RESOURCE_PREFIX}{agent_type}"


def first_line(exc: BaseException) -> str:
    """Ray's first sentence: its messages go on with advice for Ray's own tools."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text.split(". ", 1)[0][:300]


def _on_node(job: NodeJob, bundle: bytes | None) -> Iterator[NodeItem]:
    """The Ray task: name the node, then ``raynode.run_task``."""
    import ray  # noqa: PLC0415 - runs on the node, in a Ray worker

    node_id = ray.get_runtime_context().get_node_id()
    yield from run_task(job, bundle, f"{socket.gethostname()}:{node_id[:8]}")


class _Task:
    """One task's Ray task (the current try's); ``cancel`` may come before it is submitted."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ref: Any = None
        self.cancelled = False


class Driver:
    """The child's side: one connection to the cluster, one thread per task."""

    def __init__(self, ray: Any, config: RayConfig, out: Connection) -> None:
        self.ray = ray
        self.config = config
        self._out = out
        self._send_lock = threading.Lock()
        self._remote = ray.remote(_on_node)
        self._bundles: OrderedDict[str, Any] = OrderedDict()
        self._tasks: dict[int, _Task] = {}
        self._threads: list[threading.Thread] = []
        self.lost = False  # the cluster failed a call: closing waits for nothing

    def send(self, message: tuple[object, ...]) -> None:
        with self._send_lock, contextlib.suppress(OSError):  # the parent is gone: nobody asks
            self._out.send(message)

    def start(self, key: int, job: NodeJob, agent_type: str, base: str,
              bundle: bytes | None) -> None:  # fmt: skip
        if bundle is not None or base not in self._bundles:
            self._bundles[base] = None if bundle is None else self.ray.put(bundle)
            while len(self._bundles) > BUNDLES_KEPT:
                self._bundles.popitem(last=False)
        task = self._tasks[key] = _Task()
        args = (key, task, job, agent_type, self._bundles[base])
        thread = threading.Thread(target=self._follow, args=args, name=f"ray-{job.task_id}",
                                  daemon=True)  # fmt: skip
        self._threads.append(thread)
        thread.start()

    def cancel(self, key: int) -> None:
        task = self._tasks.get(key)
        if task is None:
            return
        with task.lock:
            task.cancelled = True
            ref = task.ref
        if ref is not None:
            with contextlib.suppress(Exception):  # already finished, or the cluster is gone
                self.ray.cancel(ref)

    def offers(self) -> dict[str, float]:
        total = self.ray.cluster_resources()
        return {k.removeprefix(RESOURCE_PREFIX): v for k, v in total.items()
                if k.startswith(RESOURCE_PREFIX)}  # fmt: skip

    def close(self) -> None:
        """Cancel what still runs, wait for the threads that follow tasks, then disconnect:
        Ray must not be shut down under a thread still inside ``ray.get``."""
        for key in list(self._tasks):
            self.cancel(key)
        if self.lost:
            return
        deadline = CLOSE_WAIT
        for thread in self._threads:
            thread.join(deadline)
        if any(thread.is_alive() for thread in self._threads):
            return  # a thread stuck on a cluster that is gone: leave Ray to the exit
        with contextlib.suppress(Exception):  # a cluster already gone has nothing to shut
            self.ray.shutdown()

    def _follow(self, key: int, task: _Task, job: NodeJob, agent_type: str, bundle: Any) -> None:
        """Submit, stream back, retry after a node died; always ends with done or end."""
        errors = self.ray.exceptions
        node_lost = (errors.NodeDiedError, errors.WorkerCrashedError, errors.ObjectLostError)
        tries = 0
        node = "?"
        try:
            while True:
                tries += 1
                try:
                    options = {"resources": {resource(agent_type): 1}, "num_cpus": 0,
                               "max_retries": 0,
                               "name": f"{job.run_id}:{job.task_id}:{job.attempt}"}  # fmt: skip
                    ref = self._remote.options(**options).remote(job, bundle)
                    with task.lock:
                        task.ref = ref
                        if task.cancelled:
                            self.ray.cancel(ref)
                            self.send(("end", key, "cancelled", ""))
                            return
                    for item_ref in ref:
                        kind, value = self.ray.get(item_ref)
                        if kind == "started":
                            node = str(value)
                            self.send(("started", key, node, tries))
                        elif kind in ("log", "setup"):
                            self.send((kind, key, value))
                        elif kind == "done" and isinstance(value, NodeResult):
                            self.send(("done", key, value))
                            return
                    self.send(("end", key, "cancelled", ""))
                    return
                except node_lost as exc:
                    if task.cancelled:
                        self.send(("end", key, "cancelled", ""))
                        return
                    retrying = tries <= self.config.max_retries
                    self.send(("lost", key, node, first_line(exc), retrying))
                    if not retrying:
                        self.send(("end", key, "lost", first_line(exc)))
                        return
        except errors.TaskCancelledError:
            self.send(("end", key, "cancelled", ""))
        except errors.RayTaskError as exc:  # the node's side failed (not the agent)
            self.send(("end", key, "failed", first_line(exc.cause or exc)))
        except Exception as exc:  # anything else: the cluster is not there
            self.lost = True
            self.send(("end", key, "cancelled" if task.cancelled else "cluster", first_line(exc)))


def connect(ray: Any, config: RayConfig, caps: dict[str, float]) -> None:
    """``ray.init`` for the run: attach to the cluster, or start one (``local``)."""
    kwargs: dict[str, Any] = {
        "runtime_env": config.runtime_env, "namespace": "worktree-coordinator",
        "log_to_driver": False, "logging_level": logging.WARNING, "ignore_reinit_error": True,
    }  # fmt: skip
    _reachable(config.address)
    if config.address == "local":
        res = {resource(name): float(cap) for name, cap in caps.items()}
        ray.init(address="local", resources=res, object_store_memory=LOCAL_OBJECT_STORE,
                 include_dashboard=False, **kwargs)  # fmt: skip
    else:
        ray.init(address=config.address, **kwargs)


def _reachable(address: str) -> None:
    """Raise ``OSError`` unless a cluster's ``HOST:PORT`` answers (Ray itself retries an
    unreachable address for minutes); ``auto`` and ``local`` are Ray's to find or start."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT):
        pass


def serve(inbox: Connection, out: Connection) -> None:
    """The child's loop: init, then act on each message until ``close`` or the parent's end."""
    kind, config, caps = inbox.recv()
    assert kind == "init" and isinstance(config, RayConfig)
    try:
        import ray  # noqa: PLC0415 - only this process of a run imports Ray

        connect(ray, config, caps)
    except Exception as exc:
        out.send(("unreachable", first_line(exc)))
        return
    driver = Driver(ray, config, out)
    head = ""
    with contextlib.suppress(Exception):  # Ray Client has no GCS address here: probe its own
        head = str(ray.get_runtime_context().gcs_address or "")
    driver.send(("ready", head))
    while True:
        try:
            message = inbox.recv()
        except (EOFError, OSError):
            return  # the coordinator is gone: Ray cancels the tasks of a driver that ended
        kind = message[0]
        if kind == "start":
            driver.start(*message[1:])
        elif kind == "cancel":
            driver.cancel(message[1])
        elif kind == "offers":
            driver.send(("offers", driver.offers()))
        elif kind == "close":
            driver.close()
            driver.send(("closed",))
            return


def main(argv: list[str]) -> int:
    inbox = Connection(int(argv[0]), writable=False)
    out = Connection(int(argv[1]), readable=False)
    serve(inbox, out)
    out.close()
    # Ray's own threads must not hold the exit: everything that matters was sent.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
