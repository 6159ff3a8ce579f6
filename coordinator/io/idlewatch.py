"""Notices writes into idle pooled worktrees, so that taking one needs no scan of every file.

Why: a pooled worktree must be proven clean before the next task starts in it (a file written
into it while it sat idle is no task's work: it is set aside, never collected). The proof is a
``git status``, whose ``lstat`` of every tracked file is most of a task's cost on a large
repository. Watched from the moment it is pooled, a worktree is proven clean once, in the job
that pools it (``Worktrees.release``, off every task's path), and the take only asks whether
anything was written since. The watch is in place *before* that proof, so a write is either
seen by the proof or queued by the kernel; one missed by both does not exist.

Why inotify directly rather than watchdog (which watches the markers): the question is only
"did anything happen since", and the kernel queues an event before the writing call returns,
so one ``FIONREAD`` on the watch's descriptor answers it at once, with no thread and no
delivery delay; watchdog's recursive watch costs 100-170 ms of Python on 100,000 files and
reports events from a thread, tens of milliseconds late. Adding the watches walks every
directory (about 40 ms there), the one cost left.

What inotify does not report, and is therefore not noticed: a write through a memory map, or
through a hard link whose other name is outside the worktree. When inotify cannot watch (not
Linux, limits used up, more than ``MAX_DIRS`` directories) ``watch`` says False and the take
scans as before. Reading a file is not a write and is not counted.
"""

from __future__ import annotations

import array
import ctypes
import ctypes.util
import errno
import fcntl
import logging
import os
import termios
import threading
from pathlib import Path

log = logging.getLogger(__name__)

MAX_DIRS = 20_000  # beyond this (ignored build output, say) the take scans instead: watches
#                    are a per-user kernel budget that the markers' watcher needs too
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_MASK = (
    0x00000002  # IN_MODIFY
    | 0x00000004  # IN_ATTRIB (a mode, an owner, a timestamp set on purpose)
    | 0x00000008  # IN_CLOSE_WRITE
    | 0x00000040  # IN_MOVED_FROM
    | 0x00000080  # IN_MOVED_TO
    | 0x00000100  # IN_CREATE
    | 0x00000200  # IN_DELETE
    | 0x00000400  # IN_DELETE_SELF
    | 0x00000800  # IN_MOVE_SELF
    | 0x01000000  # IN_ONLYDIR
    | 0x02000000  # IN_DONT_FOLLOW
)


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    except (OSError, AttributeError):  # not Linux: every take scans
        return None
    return libc


_LIBC = _libc()


class IdleWatch:
    """One inotify descriptor per idle worktree, watching each of its directories. Thread-safe:
    the pool's jobs watch and take from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fds: dict[Path, int] = {}
        self._retired: list[int] = []  # closed by the next ``watch`` or ``stop``: see ``forget``
        self._stopped = False

    def watch(self, path: Path) -> bool:
        """Start noticing writes anywhere under ``path``: True once every directory there is
        watched, False when that cannot be done (the take then scans)."""
        key = Path(path)
        self.forget(key)
        with self._lock:
            retired, self._retired = self._retired, []
        for old in retired:
            os.close(old)
        fd = _watch_tree(key)
        if fd is None:
            return False
        with self._lock:
            if self._stopped:
                os.close(fd)
                return False
            self._fds[key] = fd
        return True

    def quiet(self, path: Path) -> bool:
        """Whether ``path`` is watched and nothing was written under it since ``watch``."""
        with self._lock:
            fd = self._fds.get(Path(path))
            if fd is None:
                return False
            pending = array.array("i", [0])
            try:
                fcntl.ioctl(fd, termios.FIONREAD, pending, True)
            except OSError:
                return False
            return pending[0] == 0

    def forget(self, path: Path) -> None:
        """Stop watching ``path`` (taken, removed or not proven clean). Its descriptor is
        closed later, by the job that watches the next worktree: closing one that watches a
        thousand directories waits for the kernel (about 15 ms), which a take should not."""
        with self._lock:
            fd = self._fds.pop(Path(path), None)
            if fd is not None:
                self._retired.append(fd)

    def stop(self) -> None:
        """Stop every watch. Idempotent."""
        with self._lock:
            self._stopped = True
            fds, self._fds = [*self._fds.values(), *self._retired], {}
            self._retired = []
        for fd in fds:
            os.close(fd)


def _watch_tree(root: Path) -> int | None:
    """A non-blocking inotify descriptor watching ``root`` and every directory under it (not
    through symlinks), or None. A directory made during the walk is either listed by it or
    reported by its already watched parent; a directory gone meanwhile needs no watch."""
    if _LIBC is None:
        return None
    fd = int(_LIBC.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC))
    if fd < 0:
        why = os.strerror(ctypes.get_errno())
        log.info("cannot watch %s: %s; it is scanned when taken", root, why)
        return None
    stack, count = [os.fsencode(root)], 0
    try:
        while stack:
            directory = stack.pop()
            if _LIBC.inotify_add_watch(fd, directory, _MASK) < 0:
                code = ctypes.get_errno()
                if code in (errno.ENOENT, errno.ENOTDIR) and directory != os.fsencode(root):
                    continue  # gone or replaced since it was listed: its parent saw that
                raise OSError(code, os.strerror(code))
            count += 1
            if count > MAX_DIRS:
                raise OSError(errno.ENOSPC, f"more than {MAX_DIRS} directories")
            with os.scandir(directory) as entries:
                stack.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
    except OSError as exc:
        os.close(fd)
        log.info("cannot watch %s (%s); it is scanned when taken", root, exc)
        return None
    return fd
