"""A private copy of the user's index, so that the checkout guard's ``status`` is cheap.

Why: the guard (``workcheck.CheckoutGuard``) runs ``git status`` on the user's checkout once
per task. It may never write the user's index (``GIT_OPTIONAL_LOCKS=0``), so git could keep
nothing it learned: each look read every directory again for untracked files and re-read every
file whose stat data the index did not have yet. Pointed at a copy of the index that only the
coordinator uses, the same ``status`` may write: the refreshed stat data and the untracked cache
stay, and a look on 100,000 files costs about 80 ms instead of 130-150. The answer is the
same: a copy has the same entries, and refreshing stat data changes no entry. Whenever the
user's index changes (git replaces the file on every write: a new inode), it is copied again.
The copy is never split (``core.splitIndex=false`` when it is written), so nothing is ever
written next to the user's shared index files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from pathlib import Path

from coordinator.io.runfiles import state_dir


class PrivateIndex:
    """``copy``, kept equal in content to the user's index at ``source``. Thread-safe."""

    def __init__(self, source: Path, copy: Path) -> None:
        self.source = source
        self.copy = copy
        self._lock = threading.Lock()
        self._copied_from: tuple[int, int, int, int] | None = None

    @classmethod
    def of(cls, git_dir: Path) -> PrivateIndex:
        """The copy a run keeps of the main checkout's index: ``.git/coordinator/guard-index``."""
        return cls(git_dir / "index", state_dir(git_dir) / "guard-index")

    def current(self) -> Path | None:
        """The copy, made again first if the user's index changed since; None (look with the
        user's own index, read-only) when there is none or it cannot be copied."""
        with self._lock:
            try:
                info = os.stat(self.source)
            except OSError:
                return None
            key = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
            if key == self._copied_from and self.copy.exists():
                return self.copy
            tmp = self.copy.with_name(f".{self.copy.name}.{os.getpid()}.tmp")
            try:
                self.copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.source, tmp)
                os.replace(tmp, self.copy)
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                self._copied_from = None
                return None
            self._copied_from = key
            return self.copy
