"""``executor = "ray"``: each task is a Ray task on a node that offers its agent type.

The coordinator never imports Ray for a run's work: the run's Ray driver lives in a child
process (``coordinator.io.raydriver``, started through ``processes`` in a session of its own,
so a terminal's Ctrl-C is the coordinator's to handle, and killed by the kernel if the
coordinator dies). Ray's driver ends its process when the cluster it is attached to goes away;
here that ends the child, and the pipe closing is turned into ``ClusterLost``: the run stops as
on Ctrl-C, its work kept. Everything that touches the repository stays here, on a thread per
task: the base bundle is made here (one per base commit, sent once; with ``[ray] remote`` only
what the remote lacks), and the node's result (a bundle of the task branch and the marker) is
applied here, with the repository's guard, before the agent's exit is reported. The log is
streamed while the agent runs.

Placement is Ray's: a task asks for one unit of the custom resource ``agent:<type>``, which a
node offers when started with ``--resources '{"agent:<type>": N}'``; ``N`` is that node's cap
for the type. The engine's own caps (``--instances``, ``[agents.T] instances``) still bound
how many tasks are submitted at once.

Failures: a node that dies mid-task is the driver's to retry, up to ``[ray] max_retries``
times, each run reported as an event so that it is recorded; Ray's own retries are off so that
none goes unrecorded. A failed Ray call, or the driver process gone, means the cluster cannot
be reached: ``ClusterLost``. A coordinator killed outright takes its driver with it (a
parent-death signal), and Ray cancels the tasks of a driver that died; the node side kills the
agent's tree when its task ends.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import queue
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from coordinator.core.configtables import RayConfig
from coordinator.core.refs import branch_ref
from coordinator.errors import EXIT_LOCKED, CoordinatorError, GitError, InputError, Problem
from coordinator.io import processes
from coordinator.io.agents import AgentExited, AgentProcess
from coordinator.io.executor import (
    ClusterLost,
    NodeDone,
    NodeLost,
    NodeSetup,
    NodeStarted,
    RemoteLaunch,
)
from coordinator.io.raydriver import BUNDLES_KEPT, CLOSE_WAIT, resource
from coordinator.io.raynode import NodeResult

EXTRA = "pip install 'worktree-coordinator[ray]'"
Events = queue.SimpleQueue[object]
READY_WAIT = 300.0  # seconds the driver gets to connect (or start a local Ray) at the start
HEAD_EVERY = 2.0  # seconds between probes of the head's port
HEAD_MISSES = 3  # probes refused in a row before the cluster counts as gone
LOST = -9  # the exit code reported for an agent whose node could not bring its work back
__all__ = ["EXTRA", "LOST", "ClusterUnreachable", "RayExecutor", "ray_module", "resource"]


class ClusterUnreachable(CoordinatorError):
    """The cluster did not answer at the start of a run: nothing ran; try again later."""

    exit_code = EXIT_LOCKED  # EX_TEMPFAIL, as cron and scripts read "try again later"


def ray_module(source: str | None = None) -> Any:
    """Ray, or the one-line error naming the extra that installs it."""
    try:
        import ray  # noqa: PLC0415 - an optional extra, imported only when a run uses it
    except ImportError:
        raise InputError(
            Problem(source, "executor", 'is "ray" but Ray is not installed', EXTRA)
        ) from None
    return ray


class RemoteAgent(AgentProcess):
    """A task running on a Ray node: no pid here; ``cancel`` cancels its Ray task."""

    def __init__(self, task_id: str, run_id: str, executor: RayExecutor, key: int) -> None:
        super().__init__(task_id, None, None, run_id)
        self._executor = executor
        self.key = key
        self.lock = threading.Lock()  # results are applied or the task is cancelled, not both
        self.cancelled = False
        self.node = "?"  # where the current try runs, once a node has it
        self.inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()

    def cancel(self) -> None:
        with self.lock:  # waits for results being applied: after it, the worktree is ours
            if self.cancelled or not self.alive():
                return
            self.cancelled = True
        self._executor.send(("cancel", self.key))

    def finish(self, returncode: int) -> None:
        self._finish(returncode)


class RayExecutor:
    """Starts the run's Ray driver and runs tasks through it (see the module docstring)."""

    def __init__(self, config: RayConfig, caps: dict[str, int], source: str | None = None):
        ray_module(source)  # the one-line refusal without the extra, before any process
        self.config = config
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        argv = [sys.executable, "-m", "coordinator.io.raydriver", str(down_r), str(up_w)]
        started = processes.start(argv, stdout=processes.DEVNULL, stderr=processes.PIPE,
                                  pass_fds=(down_r, up_w), new_session=True,
                                  die_with_parent=True)  # fmt: skip
        os.close(down_r)
        os.close(up_w)
        if started.popen is None:
            os.close(down_w)
            os.close(up_r)
            raise ClusterUnreachable(f"cannot start the Ray driver: {started.error}")
        self._proc = started.popen
        self._lost_head = ""  # why the head was given up for, when the probe did
        self._out = Connection(down_w, readable=False)
        self._in = Connection(up_r, writable=False)
        self._send_lock = threading.Lock()
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        threading.Thread(target=self._drain, name="ray-driver-stderr", daemon=True).start()
        self._replies: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.send(("init", config, {k: float(v) for k, v in caps.items()}))
        try:
            reply = self._in.recv() if self._in.poll(READY_WAIT) else ("unreachable", "no answer")
        except (EOFError, OSError):
            reply = ("unreachable", self._ended())
        if reply[0] != "ready":
            self._stop_driver(0.0)
            raise ClusterUnreachable(
                f"cannot reach the Ray cluster at {config.address!r}: {reply[1]} "
                "(start it with `ray start --head`, or set [ray] address)"
            )
        self._keys = itertools.count(1)
        self._agents: dict[int, RemoteAgent] = {}
        self._sent: OrderedDict[str, None] = OrderedDict()  # the driver's bundles, mirrored
        self._bundle_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closing = False
        self._gone = False  # the driver's pipe closed: tasks started now end at once
        self._reader = threading.Thread(target=self._read, name="ray-driver", daemon=True)
        self._reader.start()
        self._head = _host_port(config.address) or _host_port(str(reply[1]))
        if self._head is not None:
            threading.Thread(target=self._watch, name="ray-head", daemon=True).start()

    # ------------------------------------------------------------------ Executor
    def offers(self) -> dict[str, float]:
        self.send(("offers",))
        try:
            reply = self._replies.get(timeout=60)
        except queue.Empty:
            return {}
        return dict(reply[1]) if reply[0] == "offers" else {}

    def start(self, launch: RemoteLaunch, events: queue.SimpleQueue[object]) -> AgentProcess:
        agent = RemoteAgent(launch.job.task_id, launch.job.run_id, self, next(self._keys))
        self._agents[agent.key] = agent
        launch.log.parent.mkdir(parents=True, exist_ok=True)
        launch.log.touch()  # as a local agent's: there from the start, output appended
        thread = threading.Thread(target=self._drive, args=(agent, launch, events),
                                  name=f"ray-{launch.job.task_id}", daemon=True)  # fmt: skip
        self._threads.append(thread)
        thread.start()
        if self._gone:
            agent.inbox.put(("end", agent.key, "gone", "its Ray driver ended"))
        return agent

    def close(self) -> None:
        """Cancel what still runs and let the driver disconnect (it waits for its threads
        inside ``ray.get``), then wait for the threads that follow tasks here."""
        self._closing = True
        self.send(("close",))
        self._stop_driver(CLOSE_WAIT + 10)
        deadline = time.monotonic() + 10
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def send(self, message: tuple[object, ...]) -> None:
        """To the driver; nothing when it is gone (the reader reports that)."""
        with self._send_lock, contextlib.suppress(OSError, ValueError):
            self._out.send(message)

    # ------------------------------------------------------------------ the driver
    def _read(self) -> None:
        """Hand each message of the driver to its task's thread, until the pipe closes."""
        while True:
            try:
                message = self._in.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind in ("offers", "closed"):
                self._replies.put(message)
            elif (agent := self._agents.get(message[1])) is not None:
                agent.inbox.put(message)
        why = "" if self._closing else self._ended()
        self._gone = True
        for agent in list(self._agents.values()):
            agent.inbox.put(("end", agent.key, "gone", why))
        self._replies.put(("gone",))

    def _watch(self) -> None:
        """Probe the head's port: Ray's driver waits a minute for a head that is gone (its
        tasks' streams hang meanwhile); ``HEAD_MISSES`` refused probes in a row end the driver,
        which the reader reports as the cluster lost."""
        assert self._head is not None
        misses = 0
        while not self._closing and self._proc.poll() is None:
            try:
                socket.create_connection(self._head, timeout=HEAD_EVERY).close()
                misses = 0
            except OSError:
                misses += 1
            if misses >= HEAD_MISSES:
                host, port = self._head
                self._lost_head = f"its head {host}:{port} does not answer"
                with contextlib.suppress(OSError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
                return
            time.sleep(HEAD_EVERY)

    def _ended(self) -> str:
        """Why the driver is gone, in one line."""
        if self._lost_head:
            return self._lost_head
        with contextlib.suppress(processes.TimeoutExpired):
            self._proc.wait(timeout=5)
        code = self._proc.returncode
        if code is None:
            return "no answer"
        said = f": {self._stderr[-1][:200]}" if self._stderr else ""  # Ray's last words
        return f"its Ray driver ended (exit code {code}){said}"

    def _drain(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            if text := line.decode("utf-8", "replace").strip():
                self._stderr.append(text)

    def _stop_driver(self, wait: float) -> None:
        try:
            self._proc.wait(timeout=wait)
        except processes.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        with contextlib.suppress(OSError):
            self._out.close()

    # ------------------------------------------------------------------ one task
    def _drive(self, agent: RemoteAgent, launch: RemoteLaunch, events: Events) -> None:
        """Send the task, follow it, apply the result; always ends the agent."""
        job = launch.job
        code, error = LOST, ""
        clock = time.perf_counter()
        phases: dict[str, float] = {}
        try:
            phases["ray_bundle"] = self._submit(agent, launch)
            clock = time.perf_counter()
        except (GitError, OSError) as exc:
            _log(launch.log, f"cannot send the task to the cluster: {exc}")
            agent.finish(1)
            events.put(AgentExited(job.task_id, 1, time.time(), None, ""))
            return
        while True:
            message = agent.inbox.get()
            kind = message[0]
            if kind == "started":
                phases["ray_dispatch"] = time.perf_counter() - clock
                agent.node = str(message[2])
                events.put(NodeStarted(job.task_id, job.attempt, agent.node, message[3]))
            elif kind == "log":
                with launch.log.open("ab") as out:
                    out.write(message[2])
            elif kind == "setup":
                ok, detail, seconds = message[2]
                events.put(NodeSetup(job.task_id, job.attempt, ok, detail, seconds))
            elif kind == "lost":
                _, _, node, detail, retrying = message
                events.put(NodeLost(job.task_id, job.attempt, node, detail, retrying))
                again = "; running the task again on another node" if retrying else ""
                _log(launch.log, f"the node died ({detail}){again}")
            elif kind == "done":
                result: NodeResult = message[2]
                code, error = result.returncode, result.error
                phases.update(self._take(agent, launch, result))
                events.put(NodeDone(job.task_id, job.attempt, phases))
                break
            elif kind == "end":
                code = self._no_result(agent, launch, events, message[2], message[3])
                break
        self._agents.pop(agent.key, None)
        agent.finish(code)
        events.put(AgentExited(job.task_id, code, time.time(), None, error))

    def _take(
        self, agent: RemoteAgent, launch: RemoteLaunch, result: NodeResult
    ) -> dict[str, float]:
        """The node's result into the task's worktree (unless cancelled meanwhile); the
        phases it took, the node's own among them."""
        clock = time.perf_counter()
        with agent.lock:
            if not agent.cancelled:
                self._apply(launch, result)
        phases = {f"node_{k}": v for k, v in result.timings.items()}
        return {**phases, "ray_apply": time.perf_counter() - clock}

    def _no_result(self, agent: RemoteAgent, launch: RemoteLaunch, events: Events, why: str,
               detail: str) -> int:  # fmt: skip
        """A task that ended without a result: its exit code, and the cluster lost if so."""
        if why == "failed":
            _log(launch.log, f"the task failed on its node: {detail}")
            return 1
        if why in ("cluster", "gone") and not agent.cancelled and not self._closing:
            _log(launch.log, f"the Ray cluster cannot be reached: {detail}")
            events.put(ClusterLost(detail))
        return LOST

    def _submit(self, agent: RemoteAgent, launch: RemoteLaunch) -> float:
        """The start message, with the base bundle the first time its base is sent; returns
        the seconds the bundle took to make."""
        job = launch.job
        made = 0.0
        with self._bundle_lock:
            bundle: bytes | None = None
            if job.base not in self._sent:
                clock = time.perf_counter()
                bundle = self._base_bundle(launch)
                made = time.perf_counter() - clock
                self._sent[job.base] = None
                while len(self._sent) > BUNDLES_KEPT:
                    self._sent.popitem(last=False)
            self.send(("start", agent.key, job, launch.agent_type, job.base, bundle))
        return made

    def _base_bundle(self, launch: RemoteLaunch) -> bytes | None:
        exclude = ("--remotes",) if self.config.remote else ()
        with tempfile.TemporaryDirectory(dir=launch.scratch) as tmp:
            path = Path(tmp) / "base.bundle"
            made = launch.repo.bundle_create(path, branch_ref(launch.job.branch), exclude=exclude)
            return path.read_bytes() if made else None

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


def _host_port(address: str) -> tuple[str, int] | None:
    """``HOST:PORT`` of an address (``ray://`` or not); None for ``auto``, ``local``, ""."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    return (host, int(port)) if sep and host and port.isdigit() else None


def _log(path: Path, line: str) -> None:
    with path.open("ab") as out:
        out.write(f"[coordinator] {line}\n".encode())
