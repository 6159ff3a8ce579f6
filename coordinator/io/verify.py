"""The merge gate: run a check on a merge result before the target moves.

The merge commit is checked out in a scratch worktree (detached, under the worktrees
directory), the configured argv runs there with a timeout, and only a pass lets the merger move
the target. Its output goes to a log whose tail is reported on failure.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from coordinator.io import processes
from coordinator.io.agents import kill_tree
from coordinator.io.gitrepo import GitRepo
from coordinator.io.runfiles import line_break

TAIL_LINES = 20


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    reason: str  # "" on success; otherwise the command, its exit code and the output tail
    log: Path


def verify_commit(
    repo: GitRepo,
    commit: str,
    argv: Sequence[str],
    *,
    scratch: Path,
    log: Path,
    timeout: float,
    on_start: Callable[[int], None] | None = None,
    covers: Sequence[str] = (),
) -> VerifyResult:
    """Check out ``commit`` at ``scratch`` (detached), run ``argv`` there, clean up.

    ``on_start`` gets the pid of the command, which leads its own session, so that a caller
    stopping at once (a second Ctrl-C) can kill its whole group from a signal handler. The
    output is appended to ``log`` under a header (naming the tasks the run ``covers``), so a
    gate that runs again for a batch ending in the same task keeps the earlier runs' output.
    """
    if scratch.exists():
        repo.worktree_remove(scratch, force=True)
    repo.worktree_add_detached(scratch, commit)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = shlex.join(argv)
    of = f" of {'+'.join(covers)}" if covers else ""
    try:
        with log.open("a+b") as out:  # (readable: see line_break)
            out.write(f"[coordinator] ---- merge gate{of} at {commit[:12]}: {command} ----\n"
                      .encode())  # fmt: skip
            out.flush()
            start = out.tell()
            started = processes.start(argv, cwd=scratch, stdout=out, stderr=processes.STDOUT,
                                      new_session=True)  # fmt: skip
            if started.popen is None:
                out.write(f"[coordinator] ---- could not start: {started.error} ----\n".encode())
                return VerifyResult(False, f"verify: {started.error}", log)
            proc = started.popen
            if on_start is not None:
                on_start(proc.pid)
            try:
                code = proc.wait(timeout=timeout)
            except processes.TimeoutExpired:
                kill_tree(proc.pid, None)
                proc.wait()
                out.write(line_break(out, start)
                          + f"[coordinator] ---- timed out after {timeout:g}s ----\n".encode())
                return VerifyResult(
                    False, f"verify {' '.join(argv)} timed out after {timeout:g}s", log
                )
            tail = _tail(log, start) if code != 0 else []
            out.write(line_break(out, start)
                      + f"[coordinator] ---- merge gate exited {code} ----\n".encode())
    finally:
        repo.worktree_remove(scratch, force=True)
    if code == 0:
        return VerifyResult(True, "", log)
    reason = f"verify {' '.join(argv)} exited {code}; output tail:\n" + "\n".join(tail)
    return VerifyResult(False, reason, log)


def _tail(log: Path, start: int) -> list[str]:
    """The last lines this gate run wrote (from ``start``), not an earlier run's."""
    with log.open("rb") as handle:
        handle.seek(start)
        text = handle.read().decode("utf-8", errors="replace")
    return text.splitlines()[-TAIL_LINES:]
