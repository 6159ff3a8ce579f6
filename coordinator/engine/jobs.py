"""Long work off the loop thread: each job runs on a thread of its own and reports as an event.

The engine's loop only decides; anything that may take long (git on a large worktree, a merge
and its gate, waiting for a process tree to die, scanning every process) is a job. A job gets
plain values and thread-safe doors (git subprocesses, never GitPython objects; never the store),
and returns a ``JobResult``; the ``JobDone`` event carries it back to the loop, whose handler
(the result's ``apply``) records what it means. This is pytest-xdist's ``DSession`` shape: the
threads only put events on the queue.

A task has at most one job at a time, so a task's steps stay in order; the merge lane is the
job kind ``merge``, of which the loop runs one at a time, in dependency order, so the target
moves exactly as a single writer would move it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from coordinator.engine.context import RunContext

MERGE = "merge"  # the job kind of the merge lane
GATE = "gate"  # one gate run of the merge queue (several run at once)


class JobResult(Protocol):
    """What a job hands back; ``apply`` runs on the loop thread and records it."""

    def apply(self, ctx: RunContext, task_id: str, seconds: float) -> None: ...


@dataclass(frozen=True)
class JobDone:
    """A job ended: its result, or the exception it raised (re-raised by the loop)."""

    kind: str
    task_id: str
    result: JobResult | None
    error: BaseException | None
    seconds: float


class Jobs:
    """Starts jobs and knows which are in flight. Only the loop thread calls its methods.

    Every job gets a thread at once (jobs wait on processes, so none may queue behind
    another), but threads are reused: a finished job's thread waits for the next one. Starting
    a thread makes the loop wait until the new thread runs, which on a busy machine cost the
    loop milliseconds per job, several jobs per task.
    """

    def __init__(self, events: queue.SimpleQueue[object]) -> None:
        self._events = events
        self.running: dict[str, str] = {}  # task id -> kind of its job in flight
        self._work: queue.SimpleQueue[tuple[str, str, Callable[[], JobResult]]] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for work, not yet promised a job

    def start(self, kind: str, task_id: str, work: Callable[[], JobResult]) -> None:
        if task_id in self.running:
            raise RuntimeError(f"{task_id} already has a {self.running[task_id]} job")
        self.running[task_id] = kind
        with self._lock:
            spawn = self._idle == 0
            self._idle -= not spawn
        self._work.put((kind, task_id, work))
        if spawn:
            threading.Thread(target=self._worker, name="job", daemon=True).start()

    def _worker(self) -> None:
        while True:
            kind, task_id, work = self._work.get()
            self._run(kind, task_id, work)
            with self._lock:
                self._idle += 1

    def _run(self, kind: str, task_id: str, work: Callable[[], JobResult]) -> None:
        started = time.perf_counter()
        try:
            result = work()
        except BaseException as exc:
            self._events.put(JobDone(kind, task_id, None, exc, time.perf_counter() - started))
        else:
            self._events.put(JobDone(kind, task_id, result, None, time.perf_counter() - started))

    def finished(self, done: JobDone) -> None:
        self.running.pop(done.task_id, None)

    def busy(self, task_id: str) -> bool:
        return task_id in self.running

    def lane_busy(self) -> bool:
        return any(kind in (MERGE, GATE) for kind in self.running.values())


class GateSwitch:
    """The merge gates' process groups (the queue runs several), which a second Ctrl-C kills
    from any thread.

    Tripped before a gate starts, the switch kills it the moment it does.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pids: set[int] = set()
        self._tripped = False

    def started(self, pid: int) -> None:
        with self._lock:
            self._pids.add(pid)
            tripped = self._tripped
        if tripped:
            _kill_group(pid)

    def ended(self, pid: int | None = None) -> None:
        """The gate of ``pid`` ended (None: every gate)."""
        with self._lock:
            if pid is None:
                self._pids.clear()
            else:
                self._pids.discard(pid)

    def trip(self) -> None:
        with self._lock:
            self._tripped = True
            pids = list(self._pids)
        for pid in pids:
            _kill_group(pid)


def _kill_group(pid: int) -> None:
    """SIGKILL a process group whose leader is ``pid`` (agents and the gate lead their own)."""
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
