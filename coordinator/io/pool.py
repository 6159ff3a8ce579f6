"""The record of warm worktrees: which idle worktrees wait to be reused, kept in one file.

A finished task's worktree is not deleted but renamed ``<worktrees>/.pool-<n>`` (detached at
the commit its work landed as) and listed here; the next task takes one, renames it to its own
``<worktrees>/<id>`` and switches it to its base, which rewrites only the files that differ
instead of all of them. Why a file: a coordinator killed between two steps must not lose track
of a pooled worktree, so the list is rewritten atomically (a temporary file, then
``os.replace``) after each change, and ``Worktrees.reconcile_pool`` compares it with the
worktrees git knows at the start of every run. The list is only a hint: what git says wins,
which is why it is not ``fsync``ed (a killed process loses nothing written; after a power cut
an older list is made to agree with git like any other).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from coordinator.io.gitworktree import own_git_dir

POOL_PREFIX = ".pool-"  # task ids never start with "." so these names cannot collide
POOL_FILE = "worktree-pool.json"
_VERSION = 1


@dataclass(frozen=True)
class Pooled:
    """An idle worktree: its directory and the commit its HEAD is detached at."""

    path: Path
    head: str


class PoolRecord:
    """The list of pooled worktrees, in ``path`` (under ``.git/coordinator/``).

    ``lock`` serializes the read-modify-write of every change among the engine's threads; one
    coordinator per repository holds the repository lock, so no other process writes it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()

    def read(self) -> list[Pooled]:
        """The recorded worktrees; a missing or unreadable file is an empty pool (the worktrees
        themselves are found again by ``reconcile_pool``)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            entries = data["worktrees"] if data.get("version") == _VERSION else []
            return [Pooled(Path(e["path"]), str(e["head"])) for e in entries]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return []

    def write(self, entries: list[Pooled]) -> None:
        """Replace the list atomically: a reader sees the old list or the new one, never half."""
        data = {"version": _VERSION,
                "worktrees": [{"path": str(e.path), "head": e.head} for e in entries]}  # fmt: skip
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("w", encoding="utf-8") as out:
                json.dump(data, out, indent=1)
            os.replace(tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def poolable(worktree: Path, git_dir: Path) -> Path | None:
    """The admin directory of ``worktree`` when it may go to the pool: a linked worktree whose
    ``.git`` file leads back to its own ``<git_dir>/worktrees/<name>`` (an agent may have
    pointed it elsewhere) and whose checkout is full (``sparse-checkout set`` writes
    ``info/sparse-checkout`` there)."""
    admin = own_git_dir(worktree)
    if admin is None:
        return None  # not a linked worktree as we make them: never pooled
    try:
        back = (admin / "gitdir").read_text(encoding="utf-8", errors="surrogateescape").strip()
    except OSError:
        return None
    if admin.parent.resolve() != (git_dir / "worktrees").resolve():
        return None
    if Path(back).resolve() != (worktree / ".git").resolve():
        return None
    return None if (admin / "info" / "sparse-checkout").exists() else admin
