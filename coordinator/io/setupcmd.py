"""``[worktree] setup``: the command that makes a new task worktree ready (``npm ci``, a build).

It runs in the worktree before the agent, with the agent's own ``COORDINATOR_*`` environment,
its output appended to the task's log between two header lines (``coordinator logs`` shows it),
in a session of its own so that a timeout or a Ctrl-C stops its whole process tree. It is
registered as a child reaped by its own waiter, like an agent (see ``coordinator.io.procs``).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from coordinator.io import processes, procs
from coordinator.io.runfiles import line_break

TAIL_LINES = 20


@dataclass(frozen=True)
class SetupResult:
    ok: bool
    detail: str  # "" on success; otherwise how it failed, with the output's tail
    seconds: float


def run_setup(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: Path, timeout: float,
    on_start: Callable[[int], None] | None = None,
) -> SetupResult:  # fmt: skip
    """Run ``argv`` in ``cwd``, appending its output to ``log``; never raises for the command."""
    command = shlex.join(argv)
    log.parent.mkdir(parents=True, exist_ok=True)
    started_at = time.monotonic()
    with log.open("a+b") as out:  # (readable: see line_break)
        out.write(f"[coordinator] ---- setup: {command} (in {cwd}) ----\n".encode())
        out.flush()
        start = out.tell()
        with procs.spawning():
            started = processes.start(argv, cwd=cwd, env=env, stdout=out,
                                      stderr=processes.STDOUT, new_session=True)  # fmt: skip
            if started.popen is not None:
                procs.register_child(started.popen.pid)
        if started.popen is None:
            out.write(f"[coordinator] {started.error}\n".encode())
            return SetupResult(False, started.error, time.monotonic() - started_at)
        proc = started.popen
        if on_start is not None:
            on_start(proc.pid)
        try:
            code = proc.wait(timeout=timeout)
            why = "" if code == 0 else f"setup `{command}` exited {code}"
        except processes.TimeoutExpired:
            procs.kill_tree(proc.pid, None, timeout=1.0)
            code = proc.wait()
            why = f"setup `{command}` timed out after {timeout:g}s and was killed"
        finally:
            procs.unregister_child(proc.pid)
        seconds = time.monotonic() - started_at
        out.write(line_break(out, start)
                  + f"[coordinator] ---- setup exited {code} after {seconds:.1f}s ----\n".encode())
    if not why:
        return SetupResult(True, "", seconds)
    with log.open("rb") as read:
        read.seek(start)
        tail = read.read().decode("utf-8", "replace").splitlines()[-TAIL_LINES - 1 : -1]
    detail = why + ("; output tail:\n" + "\n".join(tail) if any(t.strip() for t in tail) else "")
    return SetupResult(False, detail, seconds)
