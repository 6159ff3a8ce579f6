"""The one door through which the coordinator starts a process: agents, git, the merge gate,
the daemon's notify command and ``crontab`` all start here.

Why one door: a process that cannot start (a missing executable, a directory gone, no
permission) is a normal event for a tool that runs commands users configure, not a traceback.
Here it comes back as an ordinary failed result with one clear reason (the rule of
pre-commit's ``cmd_output_b``): exit code 127 when the program is not found, 126 when it
cannot be executed, as a shell would say. Every argv is a list, never a shell string, and
stdin is ``/dev/null`` unless input is given, so nothing ever waits for a keyboard.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

EXIT_NOT_FOUND = 127  # the shell's convention for "command not found"
EXIT_NOT_EXECUTABLE = 126  # ... and for "found but cannot be executed"
EXIT_TIMED_OUT = -signal.SIGKILL  # what ``run`` reports for a command it killed at its timeout

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL
STDOUT = subprocess.STDOUT
Popen = subprocess.Popen
TimeoutExpired = subprocess.TimeoutExpired
Stream = int | IO[bytes] | None


@dataclass(frozen=True)
class ProcessResult:
    """A finished command. ``error`` says why it did not start or did not finish (then
    ``returncode`` is 127, 126 or ``EXIT_TIMED_OUT``); it is ``""`` when it ran to its end."""

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes = b""
    stderr: bytes = b""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.error

    @property
    def text(self) -> str:
        """stdout, decoded leniently."""
        return self.stdout.decode("utf-8", "replace")

    def reason(self) -> str:
        """One line for the user: why it failed, with the last line the command printed."""
        if self.error:
            return self.error
        said = (self.stderr or self.stdout).decode("utf-8", "replace").strip().splitlines()
        last = f": {said[-1]}" if said else ""
        return f"`{shlex.join(self.argv)}` exited {self.returncode}{last}"


@dataclass(frozen=True)
class Started:
    """A started process (``popen``), or why it could not start (``returncode``, ``error``)."""

    popen: subprocess.Popen[bytes] | None
    returncode: int | None = None
    error: str = ""
    strerror: str = ""  # the system's own words (``Exec format error``), when it said any


def start_failure(argv: Sequence[str], cwd: Path | str | None, exc: OSError) -> tuple[int, str]:
    """The exit code a shell would give for ``exc`` at start, and one line saying why."""
    cannot_execute = isinstance(exc, PermissionError) or exc.errno in (
        errno.EACCES, errno.ENOEXEC, errno.EISDIR,
    )  # fmt: skip
    missing_dir = cwd is not None and not os.path.isdir(cwd)
    if missing_dir:
        why = f"its working directory {str(cwd)!r} does not exist"
    elif cannot_execute:
        why = f"{argv[0]!r} cannot be executed ({exc.strerror or exc})"
    elif isinstance(exc, FileNotFoundError):
        why = f"executable {argv[0]!r} not found"
    else:
        why = str(exc)
    code = EXIT_NOT_EXECUTABLE if cannot_execute and not missing_dir else EXIT_NOT_FOUND
    return code, f"cannot run `{shlex.join(argv)}`: {why}"


def start(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: Stream = DEVNULL,
    stdout: Stream = None,
    stderr: Stream = None,
    new_session: bool = False,
    pass_fds: Sequence[int] = (),
    die_with_parent: bool = False,
) -> Started:
    """Start ``argv`` and return at once; a failure to start is a ``Started`` without popen.

    ``new_session`` makes the process lead its own session and group, so that its whole tree
    can be signalled at once and a terminal's Ctrl-C does not reach it. ``die_with_parent``
    (Linux) has the kernel SIGKILL it when the thread that started it dies: an agent on a Ray
    node must not outlive the worker Ray kills when the coordinator that asked for it died.
    """
    if isinstance(argv, str) or not argv:
        raise ValueError("a command must be a non-empty argv list")
    args = [str(arg) for arg in argv]
    try:
        popen = subprocess.Popen(
            args, cwd=cwd, env=None if env is None else dict(env), stdin=stdin, stdout=stdout,
            stderr=stderr, start_new_session=new_session, close_fds=True, pass_fds=tuple(pass_fds),
            preexec_fn=_parent_death_signal() if die_with_parent else None,  # noqa: PLW1509
        )  # fmt: skip
    except OSError as exc:
        code, why = start_failure(args, cwd, exc)
        return Started(None, code, why, exc.strerror or "")
    return Started(popen)


def run(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> ProcessResult:
    """Run ``argv`` to its end with stdout and stderr captured; never raises for the command.

    With ``timeout`` the command runs in its own session and its whole process group is
    killed when the time is up (``EXIT_TIMED_OUT``, with the reason in ``error``).
    """
    args = tuple(str(arg) for arg in argv)
    started = start(args, cwd=cwd, env=env, stdin=DEVNULL if input is None else PIPE,
                    stdout=PIPE, stderr=PIPE, new_session=timeout is not None)  # fmt: skip
    if started.popen is None:
        assert started.returncode is not None
        return ProcessResult(args, started.returncode, error=started.error)
    with started.popen as proc:
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            why = f"`{shlex.join(args)}` timed out after {timeout:g}s and was killed"
            return ProcessResult(args, EXIT_TIMED_OUT, out, err, why)
    return ProcessResult(args, proc.returncode, out, err)


PR_SET_PDEATHSIG = 1


def _parent_death_signal() -> Callable[[], None] | None:
    """A function for the child, between fork and exec, asking for SIGKILL when its parent
    dies; resolved here, before the fork, so the child only makes the one system call (no
    lock taken, which is what makes ``preexec_fn`` unsafe with threads). None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    kill = ctypes.c_ulong(signal.SIGKILL)
    zero = ctypes.c_ulong(0)
    return lambda: prctl(PR_SET_PDEATHSIG, kill, zero, zero, zero)
