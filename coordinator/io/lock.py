"""One coordinator per repository: an advisory ``flock`` under the git directory.

``flock`` is released by the kernel when its holder dies, even by SIGKILL, so a crashed
coordinator never blocks the next one; the file's JSON content only says who holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from coordinator.errors import LockHeldError


class RepoLock:
    """Held for the whole of ``run`` or a daemon cycle; ``acquire`` raises ``LockHeldError``."""

    def __init__(self, path: Path, purpose: str = "run") -> None:
        self.path = path
        self.purpose = purpose
        self._fd: int | None = None
        self.took_over: dict[str, object] | None = None

    def acquire(self) -> RepoLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockHeldError(
                f"another coordinator holds {self.path}: {_describe(holder)}; "
                "wait for it to finish (or stop it) and try again"
            ) from None
        previous = _read_holder(fd)
        if previous.get("pid"):
            # The file names a holder, yet we got the lock: that holder died without unlocking.
            self.took_over = previous
        os.ftruncate(fd, 0)
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": time.time(),
            "purpose": self.purpose,
        }
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def stale_note(self) -> str | None:
        """A line for the user when a dead holder's lock was taken over."""
        if not self.took_over:
            return None
        return f"took over a stale lock from a dead coordinator ({_describe(self.took_over)})"

    def __enter__(self) -> RepoLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(fd: int) -> dict[str, object]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _describe(holder: dict[str, object]) -> str:
    if not holder:
        return "holder unknown"
    started = holder.get("started_at")
    when = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(started)))
        if isinstance(started, int | float)
        else "?"
    )
    return (
        f"pid {holder.get('pid')} on {holder.get('host')} "
        f"({holder.get('purpose', 'run')}) since {when}"
    )


def holder_alive(path: Path) -> bool:
    """Whether the coordinator the lock file names is alive, read without touching the lock
    (taking it even for a moment could make a coordinator that starts now exit 75)."""
    try:
        data = json.loads(path.read_bytes() or b"{}")
    except (OSError, ValueError):
        return False
    pid = data.get("pid") if isinstance(data, dict) else None
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
