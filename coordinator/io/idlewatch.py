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
directory (about 40 ms there): ``arm`` starts that walk in a thread while the pooling job still
deletes ignored files and switches the files, and ``watch`` finishes it, dropping the events
of the job's own writes (what they could hide is on disk, for the proof) and walking the
directories they made.

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
import struct
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


_IN_CREATE, _IN_MOVED_TO, _IN_Q_OVERFLOW, _IN_ISDIR = 0x100, 0x80, 0x4000, 0x40000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name


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


class Arming:
    """Watches being added to a worktree's directories, in a thread of their own: the walk runs
    while the pooling job deletes ignored files and switches the files, and ``IdleWatch.watch``
    finishes it. ``dirs``: each watch's directory, relative to the worktree's top.

    The walk finds directories by path, so it must be over (``join``) before the worktree is
    moved: a directory it could not find would pass for one deleted, and stay unwatched."""

    def __init__(self, root: Path, fd: int) -> None:
        self.fd = fd
        self.dirs: dict[int, bytes] = {}
        self.error: OSError | None = None
        self._thread = threading.Thread(target=self._walk, args=(os.fsencode(root),),
                                        name="idle-watch", daemon=True)  # fmt: skip
        self._thread.start()

    def _walk(self, root: bytes) -> None:
        try:
            _add_tree(self.fd, root, b"", self.dirs)
        except OSError as exc:
            self.error = exc

    def join(self) -> OSError | None:
        """Wait for the walk (again: at once); its error, if it failed."""
        self._thread.join()
        return self.error


class IdleWatch:
    """One inotify descriptor per idle worktree, watching each of its directories. Thread-safe:
    the pool's jobs watch and take from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fds: dict[Path, int] = {}
        self._retired: list[int] = []  # closed by the next ``watch`` or ``stop``: see ``forget``
        self._stopped = False

    def arm(self, path: Path) -> Arming | None:
        """Begin watching the worktree at ``path`` (it may still change, and then move): the
        walk runs in its own thread until ``watch`` is given its result; None when inotify
        cannot be used."""
        with self._lock:
            retired, self._retired = self._retired, []
        for old in retired:
            os.close(old)
        fd = _new_fd(path)
        return None if fd is None else Arming(path, fd)

    def watch(self, path: Path, armed: Arming | None = None) -> bool:
        """Notice writes anywhere under ``path`` from now on: True once every directory there
        is watched, False when that cannot be done (the take then scans). ``armed``: the walk
        ``arm`` began, before the worktree's last changes and (joined first) its move to
        ``path``; its events
        so far are the pooling job's own and are dropped (what they hid is on disk, for the
        proof that follows to see), and directories they made are walked now."""
        key = Path(path)
        self.forget(key)
        armed = armed or self.arm(key)
        if armed is None:
            return False
        error = armed.join() or _settle(armed.fd, os.fsencode(key), armed.dirs)
        if error is not None:
            os.close(armed.fd)
            log.info("cannot watch %s (%s); it is scanned when taken", key, error)
            return False
        with self._lock:
            if self._stopped:
                os.close(armed.fd)
                return False
            self._fds[key] = armed.fd
        return True

    def disarm(self, armed: Arming) -> None:
        """Give up a watch ``arm`` began (the worktree was not pooled after all)."""
        armed.join()
        os.close(armed.fd)

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


def _new_fd(root: Path) -> int | None:
    if _LIBC is None:
        return None
    fd = int(_LIBC.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC))
    if fd < 0:
        why = os.strerror(ctypes.get_errno())
        log.info("cannot watch %s: %s; it is scanned when taken", root, why)
        return None
    return fd


def _add_tree(fd: int, root: bytes, top: bytes, dirs: dict[int, bytes]) -> None:
    """Watch ``root/top`` and every directory under it (not through symlinks), recording each
    watch's directory in ``dirs``. A directory made during the walk is either listed by it or
    reported by its already watched parent; one gone meanwhile needs no watch."""
    assert _LIBC is not None
    stack = [top]
    while stack:
        rel = stack.pop()
        where = os.path.join(root, rel) if rel else root
        wd = _LIBC.inotify_add_watch(fd, where, _MASK)
        if wd < 0:
            code = ctypes.get_errno()
            if code in (errno.ENOENT, errno.ENOTDIR) and rel:
                continue  # gone or replaced since it was listed: its parent saw that
            raise OSError(code, os.strerror(code))
        dirs[wd] = rel
        if len(dirs) > MAX_DIRS:
            raise OSError(errno.ENOSPC, f"more than {MAX_DIRS} directories")
        try:
            with os.scandir(where) as entries:
                names = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
        except (FileNotFoundError, NotADirectoryError):
            continue
        stack.extend(os.path.join(rel, n) if rel else n for n in names)


def _settle(fd: int, root: bytes, dirs: dict[int, bytes]) -> OSError | None:
    """Drop the events queued so far, watching every directory they say was made or moved in
    (found under ``root``, where the worktree is now), until none is left; an overflowed queue
    (events lost) is an error: the take scans."""
    try:
        while data := _read_events(fd):
            made: list[bytes] = []
            for wd, mask, name in _events(data):
                if mask & _IN_Q_OVERFLOW:
                    return OSError(errno.EOVERFLOW, "inotify queue overflowed")
                if mask & _IN_ISDIR and mask & (_IN_CREATE | _IN_MOVED_TO) and wd in dirs:
                    made.append(os.path.join(dirs[wd], name) if dirs[wd] else name)
            for rel in made:
                _add_tree(fd, root, rel, dirs)
    except OSError as exc:
        return exc
    return None


def _read_events(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return b""


def _events(data: bytes) -> list[tuple[int, int, bytes]]:
    """``struct inotify_event`` records: (watch, mask, name without its NUL padding)."""
    out, offset = [], 0
    while offset + _EVENT.size <= len(data):
        wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
        offset += _EVENT.size
        out.append((wd, mask, data[offset : offset + length].rstrip(b"\0")))
        offset += length
    return out
