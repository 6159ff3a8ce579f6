"""``executor = "ray"``: each task is a Ray task on a node that offers its agent type.

The only module that imports Ray, and only when a run asks for it, so the package works
without the ``ray`` extra. What travels: the task's base as a git bundle through Ray's object
store (one per base commit, shared by the tasks that start from it; with ``[ray] remote`` only
what the remote lacks), and back the task branch as a bundle plus the log, streamed while the
agent runs, and the marker (``coordinator.io.raynode`` is the node's side).

Placement is Ray's: a task asks for one unit of the custom resource ``agent:<type>``, which a
node offers when started with ``--resources '{"agent:<type>": N}'``; ``N`` is that node's cap
for the type. The engine's own caps (``--instances``, ``[agents.T] instances``) still bound
how many tasks are submitted at once.

Failures: a node that dies mid-task (``NodeDiedError``, ``WorkerCrashedError``, lost objects)
is the executor's to retry, up to ``[ray] max_retries`` times, each run reported as an event
so that it is recorded; Ray's own retries are off so that none goes unrecorded. Anything
else Ray raises means the cluster cannot be reached: ``ClusterLost``, and the run stops as
on Ctrl-C. A coordinator killed outright takes its Ray tasks with it: Ray cancels the tasks
of a driver that died, and the node side kills the agent's tree when its task ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from coordinator.core.configtables import RayConfig
from coordinator.core.refs import branch_ref
from coordinator.errors import EXIT_LOCKED, CoordinatorError, GitError, InputError, Problem
from coordinator.io.agents import AgentExited, AgentProcess
from coordinator.io.executor import ClusterLost, NodeLost, NodeStarted, RemoteLaunch
from coordinator.io.raynode import NodeItem, NodeJob, NodeResult, run_task

EXTRA = "pip install 'worktree-coordinator[ray]'"
RESOURCE_PREFIX = "agent:"
LOCAL_OBJECT_STORE = 256 * 1024**2  # bytes, for ``address = "local"``: bundles, not data sets
_BUNDLES_KEPT = 8  # base bundles kept in the object store (the newest bases)
Events = queue.SimpleQueue[object]
CONNECT_TIMEOUT = 10.0  # seconds a cluster's address gets to answer at the start of a run
CLOSE_WAIT = 30.0  # seconds ``close`` waits for the threads that follow tasks
LOST = -9  # the exit code reported for an agent whose node could not bring its work back


class ClusterUnreachable(CoordinatorError):
    """The cluster did not answer at the start of a run: nothing ran; try again later."""

    exit_code = EXIT_LOCKED  # EX_TEMPFAIL, as cron and scripts read "try again later"


def resource(agent_type: str) -> str:
    """The Ray custom resource a node offers for an agent type: ``agent:claude``."""
    return f"{RESOURCE_PREFIX}{agent_type}"


def ray_module(source: str | None = None) -> Any:
    """Ray, or the one-line error naming the extra that installs it."""
    try:
        import ray  # noqa: PLC0415 - an optional extra, imported only when a run uses it
    except ImportError:
        raise InputError(
            Problem(source, "executor", 'is "ray" but Ray is not installed', EXTRA)
        ) from None
    return ray


def _on_node(job: NodeJob, bundle: bytes | None) -> Iterator[NodeItem]:
    """The Ray task: name the node, then ``raynode.run_task``."""
    import ray  # noqa: PLC0415 - runs on the node, in a Ray worker

    node_id = ray.get_runtime_context().get_node_id()
    yield from run_task(job, bundle, f"{socket.gethostname()}:{node_id[:8]}")


class RemoteAgent(AgentProcess):
    """A task running on a Ray node: no pid here; ``cancel`` cancels its Ray task."""

    def __init__(self, task_id: str, run_id: str, ray: Any) -> None:
        super().__init__(task_id, None, None, run_id)
        self._ray = ray
        self._lock = threading.Lock()  # results are applied or the task is cancelled, not both
        self._ref: Any = None
        self.cancelled = False
        self.node = "?"  # where the current try runs, once a node has it

    def submitted(self, ref: Any) -> bool:
        """The Ray task of this try; False (and cancelled) when a cancel came first."""
        with self._lock:
            self._ref = ref
            if self.cancelled:
                self._ray.cancel(ref)
            return not self.cancelled

    def cancel(self) -> None:
        with self._lock:
            if self.cancelled or not self.alive():
                return
            self.cancelled = True
            ref = self._ref
        if ref is not None:
            with contextlib.suppress(Exception):  # already finished, or the cluster is gone
                self._ray.cancel(ref)

    def finish(self, returncode: int) -> None:
        self._finish(returncode)


class RayExecutor:
    """Connects to the cluster for one run and runs its tasks there (see the module doc)."""

    def __init__(self, config: RayConfig, caps: dict[str, int], source: str | None = None):
        self.ray = ray_module(source)
        self.config = config
        self._started_local = False
        kwargs: dict[str, Any] = {
            "runtime_env": config.runtime_env, "namespace": "worktree-coordinator",
            "log_to_driver": False, "logging_level": logging.WARNING,
            "ignore_reinit_error": True,
        }  # fmt: skip
        try:
            _reachable(config.address)
            if config.address == "local":
                res = {resource(name): float(cap) for name, cap in caps.items()}
                self.ray.init(resources=res, object_store_memory=LOCAL_OBJECT_STORE,
                              include_dashboard=False, **kwargs)  # fmt: skip
                self._started_local = True
            else:
                self.ray.init(address=config.address, **kwargs)
        except Exception as exc:
            raise ClusterUnreachable(
                f"cannot reach the Ray cluster at {config.address!r}: {_first_line(exc)} "
                "(start it with `ray start --head`, or set [ray] address)"
            ) from exc
        self._remote = self.ray.remote(_on_node)
        self._bundles: dict[str, Any] = {}  # base commit -> its bundle in the object store
        self._bundle_lock = threading.Lock()
        self._threads: list[tuple[threading.Thread, RemoteAgent]] = []

    # ------------------------------------------------------------------ Executor
    def offers(self) -> dict[str, float]:
        total = self.ray.cluster_resources()
        return {k.removeprefix(RESOURCE_PREFIX): v for k, v in total.items()
                if k.startswith(RESOURCE_PREFIX)}  # fmt: skip

    def start(self, launch: RemoteLaunch, events: queue.SimpleQueue[object]) -> AgentProcess:
        agent = RemoteAgent(launch.job.task_id, launch.job.run_id, self.ray)
        launch.log.parent.mkdir(parents=True, exist_ok=True)
        launch.log.touch()  # as a local agent's: there from the start, output appended
        thread = threading.Thread(target=self._drive, args=(agent, launch, events),
                                  name=f"ray-{launch.job.task_id}", daemon=True)  # fmt: skip
        self._threads.append((thread, agent))
        thread.start()
        return agent

    def close(self) -> None:
        """Cancel what still runs, wait for the threads that follow tasks, then disconnect:
        Ray must not be shut down under a thread still inside ``ray.get``."""
        for thread, agent in self._threads:
            if thread.is_alive():
                agent.cancel()
        deadline = time.monotonic() + CLOSE_WAIT
        for thread, _ in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._bundles.clear()
        if any(thread.is_alive() for thread, _ in self._threads):
            return  # a thread stuck on a cluster that is gone: leave Ray to the exit
        with contextlib.suppress(Exception):  # a cluster already gone has nothing to shut
            self.ray.shutdown()

    # ------------------------------------------------------------------ one task
    def _drive(self, agent: RemoteAgent, launch: RemoteLaunch, events: Events) -> None:
        """Submit, follow, retry after a node died, apply the result; always ends the agent."""
        job = launch.job
        ray_errors = self.ray.exceptions
        node_lost = (ray_errors.NodeDiedError, ray_errors.WorkerCrashedError,
                     ray_errors.ObjectLostError)  # fmt: skip
        tries = 0
        code, error = LOST, ""
        try:
            while True:
                tries += 1
                try:
                    result = self._one_try(agent, launch, events, tries)
                except node_lost as exc:
                    if agent.cancelled:
                        break
                    retrying = tries <= self.config.max_retries
                    detail = _first_line(exc)
                    events.put(NodeLost(job.task_id, job.attempt, agent.node, detail, retrying))
                    _log(launch.log, f"the node died ({detail})"
                         + ("; running the task again on another node" if retrying else ""))
                    if retrying:
                        continue
                    error = ""
                    break
                if result is None:  # cancelled
                    break
                code, error = result.returncode, result.error
                with agent._lock:
                    if not agent.cancelled:
                        self._apply(launch, result)
                break
        except ray_errors.TaskCancelledError:
            pass
        except ray_errors.RayTaskError as exc:  # the node's side failed (not the agent)
            _log(launch.log, f"the task failed on its node: {_first_line(exc.cause or exc)}")
            code = 1
        except Exception as exc:  # anything else: the cluster is not there
            if not agent.cancelled:
                _log(launch.log, f"the Ray cluster cannot be reached: {_first_line(exc)}")
                events.put(ClusterLost(_first_line(exc)))
        agent.finish(code)
        events.put(AgentExited(job.task_id, code, time.time(), None, error))

    def _one_try(
        self, agent: RemoteAgent, launch: RemoteLaunch, events: Events, tries: int
    ) -> NodeResult | None:
        job = launch.job
        bundle = self._base_bundle(launch)
        options = {"resources": {resource(launch.agent_type): 1}, "num_cpus": 0,
                   "max_retries": 0, "name": f"{job.run_id}:{job.task_id}:{job.attempt}"}
        ref = self._remote.options(**options).remote(job, bundle)
        if not agent.submitted(ref):
            return None
        for item_ref in ref:
            kind, value = self.ray.get(item_ref)
            if kind == "started":
                agent.node = str(value)
                events.put(NodeStarted(job.task_id, job.attempt, str(value), tries))
            elif kind == "log" and isinstance(value, bytes):
                with launch.log.open("ab") as out:
                    out.write(value)
            elif kind == "done" and isinstance(value, NodeResult):
                return value
        return None

    def _base_bundle(self, launch: RemoteLaunch) -> Any:
        """The base as a bundle in the object store, made once per base commit."""
        base = launch.job.base
        with self._bundle_lock:
            if base in self._bundles:
                return self._bundles[base]
            exclude = ("--remotes",) if self.config.remote else ()
            with tempfile.TemporaryDirectory(dir=launch.scratch) as tmp:
                path = Path(tmp) / "base.bundle"
                made = launch.repo.bundle_create(path, branch_ref(launch.job.branch),
                                                 exclude=exclude)  # fmt: skip
                ref = self.ray.put(path.read_bytes()) if made else None
            while len(self._bundles) >= _BUNDLES_KEPT:
                self._bundles.pop(next(iter(self._bundles)))
            self._bundles[base] = ref
            return ref

    def _apply(self, launch: RemoteLaunch, result: NodeResult) -> None:
        """The node's work into the task's local worktree, then the marker (which the
        watcher reads): the order a local agent's work and marker appear in."""
        job = launch.job
        for note in result.notes:
            _log(launch.log, f"on {result.node}: {note}")
        if result.bundle is not None:
            with tempfile.TemporaryDirectory(dir=launch.scratch) as tmp:
                path = Path(tmp) / "result.bundle"
                path.write_bytes(result.bundle)
                launch.repo.bundle_unbundle(path)
            try:
                launch.repo.merge_ff_only(result.head, launch.worktree)
            except GitError:  # not on top of the base: the agent rewrote its branch
                _log(launch.log, f"the node's work {result.head[:12]} does not descend from "
                     f"the base {job.base[:12]}; not taken")  # fmt: skip
        if result.marker is not None:
            tmp_marker = launch.scratch / f".{job.task_id}.marker"
            tmp_marker.write_bytes(result.marker)
            os.replace(tmp_marker, launch.marker)


def _reachable(address: str) -> None:
    """Raise ``OSError`` unless a cluster's ``HOST:PORT`` answers (Ray itself retries an
    unreachable address for minutes); ``auto`` and ``local`` are Ray's to find or start."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT):
        pass


def _log(path: Path, line: str) -> None:
    with path.open("ab") as out:
        out.write(f"[coordinator] {line}\n".encode())


def _first_line(exc: BaseException) -> str:
    """Ray's first sentence: its messages go on with advice for Ray's own tools."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text.split(". ", 1)[0][:300]
