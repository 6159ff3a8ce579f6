"""Where task worktrees may live: the configured directory and each task's path in it, checked.

The directory comes from config and the names from task ids, and whatever is built here is
later handed to ``git worktree remove``. So ``safe_worktree_path`` refuses every way out of the
repository (``..``, absolute paths, symlinks) before anything is created or removed. The
directory sits inside the user's repository, so it is listed in ``.git/info/exclude`` (never in
a tracked ``.gitignore``): the user's ``git status`` stays empty however many worktrees exist.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path, PurePosixPath
from typing import NoReturn

from coordinator.errors import InputError, Problem
from coordinator.io.gitrepo import GitRepo

log = logging.getLogger("coordinator.io.worktrees")  # the worktrees' own log: one place to read

_FIX = 'use a plain directory inside the repository, e.g. worktrees = "worktrees"'


def _refuse(value: str, why: str) -> NoReturn:
    raise InputError(Problem(None, "worktrees", f"{value!r} {why}", _FIX))


def _relative_dir(worktrees_dir: str) -> PurePosixPath:
    """The configured directory as a clean repo-relative path, or an ``InputError``."""
    if "\0" in worktrees_dir or "\\" in worktrees_dir:
        _refuse(worktrees_dir, "contains a NUL or backslash")
    rel = PurePosixPath(worktrees_dir)
    if rel.is_absolute() or worktrees_dir.startswith("~"):
        _refuse(worktrees_dir, "is not relative to the repository root")
    if not rel.parts:
        _refuse(worktrees_dir, "is the repository root itself")
    if ".." in rel.parts:
        _refuse(worktrees_dir, "has a '..' segment, which leads out of the repository")
    if any(part.lower() == ".git" for part in rel.parts):
        _refuse(worktrees_dir, "points into .git/")
    return rel


def worktrees_path(root: Path, worktrees_dir: str) -> Path:
    """The worktrees directory, absolute, with no symlink anywhere between the root and it.

    A symlink leading outside would put worktrees (and later ``worktree remove``) somewhere the
    user never named; one leading inside would dodge the ``info/exclude`` pattern and show up
    in ``git status``. Either way it is refused rather than followed.
    """
    real_root = root.resolve()
    lexical = real_root.joinpath(*_relative_dir(worktrees_dir).parts)
    resolved = lexical.resolve()
    if resolved != lexical:
        where = "inside" if real_root in resolved.parents else "outside"
        _refuse(worktrees_dir, f"goes through a symlink (to {resolved}, {where} the repository)")
    return lexical


def safe_worktree_path(root: Path, worktrees_dir: str, task_id: str) -> Path:
    """Where ``task_id``'s worktree goes: always exactly one level under the worktrees dir."""
    bad = (
        not task_id
        or task_id.startswith(".")
        or any(ch in task_id for ch in "/\\\0")
        or PurePosixPath(task_id).name != task_id
    )
    if bad:
        raise InputError(Problem(None, "id", f"{task_id!r} is not a single directory name"))
    base = worktrees_path(root, worktrees_dir)
    path = base / task_id
    if path.parent != base:  # belt and braces: nothing above may ever let this fail
        raise InputError(Problem(None, "id", f"{task_id!r} leaves the worktrees directory"))
    return path


def exclude_pattern(worktrees_dir: str) -> str:
    """The anchored, directory-only ``info/exclude`` line for the worktrees directory."""
    text = _relative_dir(worktrees_dir).as_posix()
    escaped = "".join("\\" + ch if ch in "*?[" else ch for ch in text)
    return f"/{escaped}/"


def ensure_excluded(repo: GitRepo, worktrees_dir: str) -> None:
    """Add the worktrees directory to ``<git_dir>/info/exclude`` once (idempotent).

    ``info/exclude`` lives in the common git dir, so it applies to every worktree, and it is
    not tracked, so the user's history never sees it.
    """
    pattern = exclude_pattern(worktrees_dir)
    exclude = repo.git_dir / "info" / "exclude"
    text = exclude.read_text("utf-8", "surrogateescape") if exclude.exists() else ""
    if {pattern, pattern.rstrip("/")} & {line.strip() for line in text.splitlines()}:
        return
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with exclude.open("a", encoding="utf-8", errors="surrogateescape") as out:
        out.write(("\n" if text and not text.endswith("\n") else "") + "# coordinator worktrees\n")
        out.write(pattern + "\n")


def lexical_path(path: Path) -> Path:
    """``path`` with its parent resolved but not its last component, so a symlink planted at a
    worktree path is never taken for the worktree it points to."""
    return Path(os.path.realpath(path.parent)) / path.name


STALE_PREFIX = ".stale-"  # task ids never start with ".": an aside name is never a task's


def aside_path(directory: Path, task_id: str) -> Path:
    """The first free ``<directory>/.stale-<id>-<n>``: where a leftover holding work goes."""
    n = 1
    while os.path.lexists(directory / f"{STALE_PREFIX}{task_id}-{n}"):
        n += 1
    return directory / f"{STALE_PREFIX}{task_id}-{n}"


def move_aside(directory: Path, task_id: str, path: Path) -> Path:
    """Rename a leftover git does not know (a symlink is renamed, not followed)."""
    aside = aside_path(directory, task_id)
    path.rename(aside)
    log.warning("leftover %s is not a known clean worktree; moved to %s", path, aside)
    return aside
