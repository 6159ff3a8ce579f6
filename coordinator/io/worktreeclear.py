"""Clearing a task worktree's path without ever deleting work: what holds work, and where it goes.

A path under the worktrees directory is cleared before a task uses it and when a worktree is
given up. A registered worktree that holds no work (no change, no untracked file, no commit only
it holds) is removed; one that holds any is moved aside to ``<worktrees>/.stale-<id>-<n>`` and
logged; a directory git does not know is never deleted unless empty (``worktreepaths``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from coordinator.errors import GitError
from coordinator.io.gitdata import WorktreeInfo
from coordinator.io.gitrepo import GitRepo
from coordinator.io.worktreepaths import aside_path, lexical_path, move_aside

log = logging.getLogger("coordinator.io.worktrees")
# A detached HEAD one of these contains holds no work of its own.
KEEPING_REFS = ("refs/heads/", "refs/tags/", "refs/remotes/")


def registered(repo: GitRepo, path: Path) -> WorktreeInfo | None:
    return next((w for w in repo.worktree_list() if lexical_path(w.path) == path), None)


def clear(repo: GitRepo, directory: Path, task_id: str, path: Path, *, force: bool,
      held: bool = False) -> Path | None:  # fmt: skip
    info = registered(repo, path)
    real_dir = path.is_dir() and not path.is_symlink()
    if info is not None and not real_dir:
        # A registration whose directory is gone (or was replaced by something else).
        aside = move_aside(directory, task_id, path) if os.path.lexists(path) else None
        repo.worktree_prune()
        return aside
    if info is not None:
        if force:
            repo.worktree_remove(path, force=True)
            return None
        if not held and not holds_work(repo, path, info):
            repo.worktree_remove(path)
            return None
        aside = aside_path(directory, task_id)
        repo.worktree_move(path, aside)
        if info.branch:  # free the branch, so it can be renamed or deleted
            repo.detach_head(aside, "coordinator: set aside")
        log.warning("worktree %s had uncommitted work; moved to %s", path, aside)
        return aside
    if real_dir and not any(path.iterdir()):
        path.rmdir()
        return None
    return move_aside(directory, task_id, path) if os.path.lexists(path) else None


def changed(repo: GitRepo, path: Path, *, write: bool = False) -> bool:
    """Changes or untracked files; a status that fails counts as changes. ``write``: a
    pooled worktree being taken, whose index the status may rewrite (``GitRepo.status``)."""
    try:
        return bool(repo.status(path, submodules=True, write=write).strip(b"\0"))
    except GitError:
        return True


def holds_work(repo: GitRepo, path: Path, info: WorktreeInfo) -> bool:
    """Changes, untracked files, or a detached HEAD no ref contains. A status that fails
    counts as work: what cannot be shown clean is not deleted."""
    if changed(repo, path):
        return True
    if info.branch is None and info.head:
        return not repo.contained_in_ref(info.head, *KEEPING_REFS)
    return False
