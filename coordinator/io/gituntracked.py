"""Keeping a task worktree's untracked cache valid when the coordinator renames the worktree.

Git's untracked cache (the ``UNTR`` index extension) remembers, per directory, its stat data
and its untracked entries, so a scan re-reads only the directories whose stat data changed.
It is stamped with the place it was made (``Location <worktree>, system <kernel>``) and git
drops the whole cache when that differs. A pooled worktree is renamed on every task
(``worktrees/<id>`` to ``.pool-<n>`` and on to the next id), which made every take's scan
re-read all 1,000 directories of a 100,000-file tree (50 ms of a 127 ms ``status``).

A rename keeps every directory's inode and stat data (only the renamed top directory's ctime
changes, and that one directory is re-read), so after the coordinator's own ``git worktree
move`` the cache is as valid at the new path as at the old one. ``relocate`` rewrites just the
location in it, in the format git documents (gitformat-index: a variable-width length, then
the NUL-terminated string; the ``EOIE`` extension's hash over the extensions' names and sizes;
the trailing hash of the file), under git's own ``index.lock``, keeping the index file's mtime
(git's reference for racily clean entries) as it was. Only a split index is rewritten (its
own file is small; see ``gitworktree.LARGE_INDEX_BYTES``), and anything unexpected (no
``EOIE``, a SHA-256 repository, a hash that does not match, a lock held) leaves the file as
it is: git then rebuilds the cache itself, which is only slower.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_HASH = 20  # SHA-1; a SHA-256 repository's index is left alone
_EOIE = 8 + 4 + _HASH  # name, size, then the offset of the extensions and their hash


def ident(worktree: Path) -> bytes:
    """The cache's stamp as git writes it for the worktree at ``worktree``."""
    return f"Location {os.path.realpath(worktree)}, system {os.uname().sysname}".encode() + b"\0"


def relocate(admin: Path, worktree: Path) -> bool:
    """Stamp the untracked cache in ``admin``'s index with ``worktree``'s location. False
    when nothing was rewritten (no cache, already there, or anything unexpected)."""
    index = admin / "index"
    try:
        data = index.read_bytes()
        before = index.stat()
    except OSError:
        return False
    try:
        new = _restamped(data, ident(worktree))
    except IndexError:  # a length running past the end
        new = None
    if new is None:
        return False
    lock = admin / "index.lock"
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError:
        return False  # someone holds the index: leave it
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(new)
        os.utime(lock, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.replace(lock, index)
    except OSError:
        lock.unlink(missing_ok=True)
        return False
    return True


def _restamped(data: bytes, stamp: bytes) -> bytes | None:
    """``data`` (a whole index file) with its ``UNTR`` location replaced by ``stamp``."""
    body, eoie = data[:-_HASH], data[-_HASH - _EOIE : -_HASH]
    if (data[:4] != b"DIRC" or len(data) < 12 + _EOIE + _HASH or _sha1(body) != data[-_HASH:]
            or eoie[:8] != b"EOIE" + (_EOIE - 8).to_bytes(4, "big")):  # fmt: skip
        return None
    start = int.from_bytes(eoie[8:12], "big")
    extensions = _extensions(body, start, len(body) - _EOIE)
    if extensions is None or _names_hash(extensions) != eoie[12:]:
        return None
    found = False
    for i, (name, payload) in enumerate(extensions):
        if name == b"UNTR":
            length, at = _varint(payload, 0)
            if at + length > len(payload) or payload[at : at + length] == stamp:
                return None
            extensions[i] = (name, _encode_varint(len(stamp)) + stamp + payload[at + length :])
            found = True
    if not found:
        return None
    out = bytearray(body[:start])
    for name, payload in extensions:
        out += name + len(payload).to_bytes(4, "big") + payload
    out += b"EOIE" + (_EOIE - 8).to_bytes(4, "big") + start.to_bytes(4, "big")
    out += _names_hash(extensions)
    return bytes(out) + _sha1(bytes(out))


def _extensions(body: bytes, start: int, end: int) -> list[tuple[bytes, bytes]] | None:
    found = []
    pos = start
    while pos + 8 <= end:
        size = int.from_bytes(body[pos + 4 : pos + 8], "big")
        found.append((body[pos : pos + 4], body[pos + 8 : pos + 8 + size]))
        pos += 8 + size
    return found if pos == end else None


def _names_hash(extensions: list[tuple[bytes, bytes]]) -> bytes:
    return _sha1(b"".join(name + len(payload).to_bytes(4, "big") for name, payload in extensions))


def _sha1(data: bytes) -> bytes:
    """Git's object and index hash here (a checksum, not a security measure)."""
    return hashlib.sha1(data, usedforsecurity=False).digest()


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """Git's variable-width integer (``varint.c``) at ``pos``: its value and where it ends."""
    byte = data[pos]
    pos += 1
    value = byte & 127
    while byte & 128:
        byte = data[pos]
        pos += 1
        value = ((value + 1) << 7) + (byte & 127)
    return value, pos


def _encode_varint(value: int) -> bytes:
    out = [value & 127]
    value >>= 7
    while value:
        value -= 1
        out.append(128 | (value & 127))
        value >>= 7
    return bytes(reversed(out))
