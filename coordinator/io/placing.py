"""Files the coordinator places into a new task worktree: ``[worktree] copy`` and ``link``.

A fresh worktree has only what git tracks: no ``.env``, no installed dependencies. ``copy``
brings untracked or ignored files of the user's checkout (found by git, so ``.env*`` looks in
the top directory only and ``**/.env`` everywhere, and nothing under the worktrees directory);
``link`` makes symlinks to shared directories instead of copying them.

What is placed must never leak: nothing is followed out of the repository (a ``.env`` that is
a symlink to ``~/secrets`` is not copied), nothing is written through a symlink inside the
worktree or over a file the worktree already has, and the placed paths are returned so that
the task's commit leaves them out and a finished worktree can take them back (``unplace``).
"""

from __future__ import annotations

import filecmp
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from coordinator.io.gitrepo import GitRepo


@dataclass(frozen=True)
class Placed:
    """Repo-relative paths copied or linked into a worktree, and what was left out and why."""

    paths: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _safe_parent(worktree: Path, rel: str) -> Path | None:
    """The destination's directory, made if needed, or None when a symlink is on the way."""
    current = worktree
    for part in Path(rel).parts[:-1]:
        current = current / part
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            return None
        current.mkdir(exist_ok=True)
    return current


def place(
    repo: GitRepo, worktree: Path, *, copy: Sequence[str], link: Sequence[str], skip_dir: str
) -> Placed:
    """Copy and link into ``worktree``; ``skip_dir`` (the worktrees directory) is never copied."""
    root = repo.root
    real_root = root.resolve()
    placed: list[str] = []
    notes: list[str] = []
    files = repo.untracked_files(copy, exclude=[skip_dir]) if copy else []
    for rel in files:
        source = (root / rel).resolve()
        why = _refusal(source, real_root, file=True)
        dest = worktree / rel
        if not why and os.path.lexists(dest):
            why = "the worktree has that path already"
        parent = None if why else _safe_parent(worktree, rel)
        if not why and parent is None:
            why = "a symlink is on its way in the worktree"
        if why:
            notes.append(f"[worktree] copy: {rel} not copied: {why}")
            continue
        shutil.copy2(source, dest)
        placed.append(rel)
    for rel in link:
        why = ""
        if not os.path.lexists(root / rel):
            why = "it does not exist in your checkout"
        else:
            why = _refusal((root / rel).resolve(), real_root, file=False)
        if not why and os.path.lexists(worktree / rel):
            why = "the worktree has that path already (is it tracked?)"
        if not why and _safe_parent(worktree, rel) is None:
            why = "a symlink is on its way in the worktree"
        if why:
            notes.append(f"[worktree] link: {rel} not linked: {why}")
            continue
        os.symlink(root / rel, worktree / rel)
        placed.append(rel)
    return Placed(tuple(placed), tuple(notes))


def _refusal(real: Path, real_root: Path, *, file: bool) -> str:
    """Why a path resolving to ``real`` may not be copied (``file``) or linked, or "".

    A symlink that stays inside the repository is fine: its file is copied, or linked to.
    """
    if not _inside(real, real_root):
        return f"it leads out of the repository (to {real})"
    if _inside(real, real_root / ".git"):
        return "it leads into .git"
    if file and not real.is_file():
        return "it is not a regular file"
    return ""


def unplace(worktree: Path, root: Path, placed: Sequence[str]) -> list[str]:
    """Take back what ``place`` put into ``worktree`` and is still as it was placed: a link
    still pointing where it did, a copy still equal to its original. Returns what stays."""
    stays = []
    for rel in placed:
        dest, source = worktree / rel, root / rel
        try:
            if dest.is_symlink():
                ours = os.readlink(dest) == str(source)
            else:
                ours = dest.is_file() and source.is_file() and filecmp.cmp(dest, source, False)
            if ours:
                dest.unlink()
            elif os.path.lexists(dest):
                stays.append(rel)
        except OSError:
            stays.append(rel)
    return stays
