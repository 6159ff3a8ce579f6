"""Launching one agent as a subprocess and reporting its exit on the engine's queue.

The engine is a single-threaded loop over one ``queue.Queue``; this module never calls back
into it. Each agent gets two daemon threads: a *pump* that copies its combined stdout/stderr
into the task log (capped, then drained and discarded so a chatty agent never blocks on a full
pipe) and a *waiter* that blocks in ``Popen.wait`` and puts ``AgentExited`` on the queue.

Agents run in their own session (``start_new_session``): a terminal's Ctrl-C reaches only the
coordinator, which then shuts agents down deliberately, and an agent's whole process group can
be signalled at once. Timeouts are the engine's business; this module only provides the kill.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

from coordinator.io import processes, procs
from coordinator.io.processes import EXIT_NOT_FOUND
from coordinator.io.procs import (
    become_subreaper,
    find_task_processes,
    is_subreaper,
    kill_task,
    kill_tree,
    reap_orphans,
)

__all__ = [
    "LAUNCH_FAILED",
    "AgentExited",
    "AgentProcess",
    "LaunchSpec",
    "become_subreaper",
    "find_task_processes",
    "is_subreaper",
    "kill_task",
    "kill_task_processes",
    "kill_tree",
    "reap_orphans",
    "start_agent",
]

# After the agent exits, how long the waiter lets the pump finish copying output before it
# reports the exit anyway. Normally the pipe closes together with the agent; a background
# process that inherited stdout keeps it open until the engine kills the task's strays.
LOG_DRAIN_GRACE = 1.0

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class AgentExited:
    """An agent's main process ended. ``returncode`` is negative (``-signal``) when it was
    killed by a signal, 127/126 when it could not be started at all."""

    task_id: str
    returncode: int
    at: float
    pid: int | None = None  # None when it could not be started
    error: str = ""  # set when it could not be started: "could not start <program>: <why>"


# How a launch failure's reason starts: the daemon does not count it as the task's failure.
LAUNCH_FAILED = "could not start "


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to start one agent; argv and env are already rendered."""

    task_id: str
    argv: Sequence[str]
    cwd: Path
    env: Mapping[str, str]
    log_path: Path
    log_limit: int


class AgentProcess:
    """A started agent. ``pid``/``create_time`` are None when the executable could not be
    started (its ``AgentExited`` is already on the queue); ``create_time`` tells our process
    apart from a later one that reuses the pid, e.g. when a recovered run kills leftovers."""

    def __init__(
        self,
        task_id: str,
        pid: int | None,
        create_time: float | None,
        run_id: str | None,
        returncode: int | None = None,
    ) -> None:
        self.task_id = task_id
        self.pid = pid
        self.create_time = create_time
        self.run_id = run_id
        self._returncode = returncode
        self._exited = threading.Event()
        # (CPU seconds, peak RSS of its largest process) of the agent and every child it waited
        # for, from ``wait4`` when it was reaped: what sampling alone can miss.
        self.rusage: tuple[float, int] | None = None
        if returncode is not None:
            self._exited.set()

    def __repr__(self) -> str:
        return f"AgentProcess(task_id={self.task_id!r}, pid={self.pid}, rc={self._returncode})"

    @property
    def returncode(self) -> int | None:
        return self._returncode

    def _finish(self, returncode: int, rusage: tuple[float, int] | None = None) -> None:
        self.rusage = rusage
        self._returncode = returncode
        self._exited.set()

    def alive(self) -> bool:
        """True until the main process has exited and been reaped."""
        return not self._exited.is_set()

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the agent exits (for shutdown paths; the engine reads the queue)."""
        self._exited.wait(timeout)
        return self._returncode

    def cancel(self) -> None:
        """Stop the agent where signals cannot reach it (one running on another machine,
        ``coordinator.io.rayexec``); a local agent is stopped by killing its process tree."""


def kill_task_processes(
    agent: AgentProcess | None, task_id: str, run_id: str, timeout: float = 3.0
) -> list[int]:
    """Kill ``agent``'s tree (if any, and if its pid is still that process) and every process
    carrying ``task_id``/``run_id`` in its environment, wherever it was re-parented; reap the
    orphans among them. Returns the pids that had to be killed, sorted.

    Call it whenever a task ends, not only on timeout: daemons an agent started must not
    outlive its task. For a run recovered after a crash, where only the stored pid and
    create_time are known, use ``kill_task`` directly.
    """
    if agent is None:
        return kill_task(task_id, run_id, None, None, timeout)
    agent.cancel()
    return kill_task(task_id, run_id, agent.pid, agent.create_time, timeout)


def _pump(source: IO[bytes], log: IO[bytes], limit: int) -> None:
    """Copy ``source`` into ``log`` up to ``limit`` bytes, then note the truncation once and
    keep reading to EOF, discarding, so the agent never blocks writing to a full pipe."""
    fd = source.fileno()
    written = 0
    writing = True
    last = b"\n"
    try:
        while chunk := os.read(fd, _CHUNK):
            if not writing:
                continue
            part = chunk[: limit - written]
            try:
                if part:
                    log.write(part)
                    written += len(part)
                    last = part[-1:]
                if len(chunk) > len(part):
                    writing = False
                    lead = b"" if last == b"\n" else b"\n"
                    log.write(lead + f"[coordinator] log truncated after {limit} bytes\n".encode())
                log.flush()
            except OSError:  # disk full or similar: stop logging, keep draining
                writing = False
    finally:
        for stream in (log, source):
            with contextlib.suppress(OSError):
                stream.close()


def _watch(
    popen: processes.Popen[bytes],
    agent: AgentProcess,
    log: IO[bytes],
    limit: int,
    events: queue.Queue[object],
) -> None:
    """The agent's waiter, which starts its log pump first: the thread that starts the agent
    (the loop) waits for one thread to come up, not two."""
    assert popen.stdout is not None
    pump = threading.Thread(
        target=_pump, args=(popen.stdout, log, limit), name=f"agent-log-{agent.task_id}",
        daemon=True,
    )  # fmt: skip
    pump.start()
    _wait(popen, agent, pump, events)


def _wait(
    popen: processes.Popen[bytes],
    agent: AgentProcess,
    pump: threading.Thread,
    events: queue.Queue[object],
) -> None:
    returncode, rusage = _reap(popen)
    procs.unregister_child(popen.pid)
    agent._finish(returncode, rusage)
    pump.join(LOG_DRAIN_GRACE)
    events.put(AgentExited(agent.task_id, returncode, time.time(), popen.pid))
    reap_orphans()


def _reap(popen: processes.Popen[bytes]) -> tuple[int, tuple[float, int] | None]:
    """Wait for the agent with ``wait4``, which also says what its tree used (Linux counts
    ``ru_maxrss`` in KiB); the Popen is told, so it never waits again."""
    try:
        _pid, status, used = os.wait4(popen.pid, 0)
    except ChildProcessError:  # reaped elsewhere: only the exit code is left
        return popen.wait(), None
    returncode = os.waitstatus_to_exitcode(status)
    popen.returncode = returncode
    return returncode, (used.ru_utime + used.ru_stime, used.ru_maxrss * 1024)


def launch_error(program: str, why: str) -> str:
    """``could not start claude: No such file or directory``: the one line a person needs."""
    return f"{LAUNCH_FAILED}{program}: {why}"


def _launch_failed(spec: LaunchSpec, log: IO[bytes], code: int, why: str) -> None:
    with log:
        log.write(
            f"[coordinator] could not start {list(spec.argv)!r} in {str(spec.cwd)!r}: {why}\n"
            f"[coordinator] exit code {code}\n".encode(errors="replace")
        )


def start_agent(spec: LaunchSpec, events: queue.Queue[object]) -> AgentProcess:
    """Start ``spec.argv`` (never through a shell) and return at once.

    ``AgentExited`` is put on ``events`` exactly once, when the process ends, or immediately
    (127/126) when it cannot be started; the reason then goes to the log. The log is opened
    for appending, so a header the engine wrote first is kept; ``log_limit`` caps the bytes
    of agent output this launch adds. Raises ``ValueError`` for an empty argv and ``OSError``
    if the log itself cannot be opened.
    """
    if isinstance(spec.argv, str) or not spec.argv:
        raise ValueError(f"task {spec.task_id}: the agent command must be a non-empty list")
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    log = spec.log_path.open("ab")
    run_id = spec.env.get(procs.RUN_ENV)
    with procs.spawning():
        started = processes.start(spec.argv, cwd=spec.cwd, env=spec.env, stdout=processes.PIPE,
                                  stderr=processes.STDOUT, new_session=True)  # fmt: skip
        if started.popen is not None:
            procs.register_child(started.popen.pid)
    if started.popen is None:
        code = started.returncode if started.returncode is not None else EXIT_NOT_FOUND
        _launch_failed(spec, log, code, started.error)
        why = launch_error(spec.argv[0], started.strerror or started.error)
        events.put(AgentExited(spec.task_id, code, time.time(), error=why))
        return AgentProcess(spec.task_id, None, None, run_id, returncode=code)
    popen = started.popen
    try:
        # Not reaped before the waiter starts, so even a process that already exited is
        # still readable here (as a zombie).
        create_time: float | None = psutil.Process(popen.pid).create_time()
    except psutil.Error:
        create_time = None
    agent = AgentProcess(spec.task_id, popen.pid, create_time, run_id)
    assert popen.stdout is not None
    threading.Thread(
        target=_watch,
        args=(popen, agent, log, spec.log_limit, events),
        name=f"agent-wait-{spec.task_id}",
        daemon=True,
    ).start()
    return agent
