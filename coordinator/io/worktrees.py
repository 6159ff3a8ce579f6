"""The worktrees directory: one git worktree per running task, made and removed by the engine.

Why it is careful:

* The directory comes from config and the names from task ids, and whatever is built here is
  later handed to ``git worktree remove``. So ``safe_worktree_path`` refuses every way out of
  the repository (``..``, absolute paths, symlinks) before anything is created or removed.
* The directory sits inside the user's repository, so it is listed in ``.git/info/exclude``
  (never in a tracked ``.gitignore``): the user's ``git status`` stays empty however many
  worktrees exist.
* A leftover from an earlier run can hold the only copy of an agent's (or a person's) work.
  Nothing with uncommitted changes or unreferenced commits is ever deleted without ``force``;
  it is moved aside to ``<worktrees>/.stale-<id>-<n>`` and logged. Task ids never start with
  ``.``, so those names cannot collide with a task.

* A finished task's worktree is kept warm for the next task (``release``, ``_reuse``; the
  record is ``coordinator.io.pool``): renaming a directory and rewriting the few files that
  differ costs far less than ``worktree add`` writing every file of a large repository.
  A task clone (``isolation = "clone"``) is made at a ``fresh_path`` too, and never pooled.

One thread works on a given task's worktree at a time; the pool's record, shared by all tasks,
changes only under its lock.

The engine's jobs call into this module from several threads, each for its own task id, so the
check-then-act sequences (one path each) need no locks; ``GitRepo`` runs git's worktree
administration one command at a time.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import NoReturn

from coordinator.core.refs import branch_ref
from coordinator.errors import GitError, InputError, Problem
from coordinator.io.faults import crash_point
from coordinator.io.gitdata import WorktreeInfo
from coordinator.io.gitrepo import GitRepo
from coordinator.io.pool import POOL_FILE, POOL_PREFIX, Pooled, PoolRecord, poolable
from coordinator.io.runfiles import state_dir

log = logging.getLogger(__name__)

STALE_PREFIX = ".stale-"
# A detached HEAD one of these contains holds no work of its own.
KEEPING_REFS = ("refs/heads/", "refs/tags/", "refs/remotes/")
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


class Worktrees:
    """The task worktrees under one directory of one repository.

    ``pool_size`` idle worktrees are kept warm for reuse (0: every task gets a fresh ``worktree
    add``); ``reuse_ignored`` lets ignored files (build output) survive into the next task.
    """

    def __init__(
        self, repo: GitRepo, worktrees_dir: str, *, pool_size: int = 0,
        reuse_ignored: bool = False,
    ) -> None:  # fmt: skip
        self.repo = repo
        self.worktrees_dir = worktrees_dir
        self.directory = worktrees_path(repo.root, worktrees_dir)  # refuse bad config early
        self.pool_size = pool_size
        self.reuse_ignored = reuse_ignored
        self.pool = PoolRecord(state_dir(repo.git_dir) / POOL_FILE)

    def path(self, task_id: str) -> Path:
        return safe_worktree_path(self.repo.root, self.worktrees_dir, task_id)

    def create(
        self, task_id: str, branch: str, commit: str, *, sparse: Sequence[str] | None = None
    ) -> Path:
        """A worktree for ``task_id`` at ``<worktrees>/<id>``, on a new ``branch`` at ``commit``.

        Whatever an earlier run left at that path is cleared first: removed when git knows it
        as a worktree holding no work, else set aside (module docstring). A full checkout
        reuses a pooled worktree when there is one (``_reuse``), else ``worktree add``s;
        ``sparse`` (paths or globs) checks out only those: on a large repository, writing every
        file is most of what ``worktree add`` costs.
        """
        return self.take(task_id, branch, commit, sparse)[0]

    def take(self, task_id: str, branch: str, commit: str,
             sparse: Sequence[str] | None = None) -> tuple[Path, bool]:  # fmt: skip
        """``create``, and whether the worktree is new (False: a warm one from the pool)."""
        path = self.fresh_path(task_id)
        if sparse is None:
            if self.pool_size > 0 and self._reuse(task_id, path, branch, commit):
                return path, False
            self.repo.worktree_add(path, branch, commit)
            return path, True
        self.repo.worktree_add(path, branch, commit, no_checkout=True)
        self.repo.sparse_checkout(path, ["/" + p.lstrip("/") for p in sparse])
        return path, True

    def fresh_path(self, task_id: str) -> Path:
        """``task_id``'s path, cleared (see ``create``): for a new worktree or task clone."""
        ensure_excluded(self.repo, self.worktrees_dir)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(task_id)  # checked again now that the directory exists
        self._clear(task_id, path, force=False)
        return path

    def remove(self, task_id: str, *, force: bool = False, held: bool = False) -> Path | None:
        """Remove ``task_id``'s worktree if there is one; its branch stays.

        Returns where uncommitted work was moved instead of being deleted, else None. ``force``
        deletes a registered worktree even with changes in it (``clean --all --force``); a
        directory git does not know, or one ``held`` (a changed copy of an ignored ``.env``
        in it, which git does not show as work), is never deleted, only set aside."""
        return self._clear(task_id, self.path(task_id), force=force, held=held)

    def prune(self) -> list[str]:
        """Forget registrations whose directories are gone, and report (never delete) the
        entries under the worktrees directory that git does not know, repo-relative."""
        self.repo.worktree_prune()
        if not self.directory.is_dir():
            return []
        known = {_lexical(info.path) for info in self.repo.worktree_list()}
        root = self.repo.root.resolve()
        return sorted(
            entry.relative_to(root).as_posix()
            for entry in self.directory.iterdir()
            if entry not in known
        )

    # ------------------------------------------------------------------ the pool
    def release(self, task_id: str) -> bool:
        """Hand ``task_id``'s worktree to the pool, once its work is merged (or kept on a
        branch): HEAD is detached where it is (the branch is free to be renamed or deleted) and
        the directory renamed ``.pool-<n>``. False (the worktree stays as it is) when the pool
        is full or off, or the worktree is not a plain full checkout git knows."""
        path = self.path(task_id)
        info = self._registered(path)
        if self.pool_size <= 0 or info is None or not info.head or info.locked:
            return False
        admin = None if path.is_symlink() else poolable(path, self.repo.git_dir)
        if admin is None:
            return False
        with self.pool.lock:
            entries = self.pool.read()
            if len(entries) >= self.pool_size:
                return False
            taken = {e.path for e in entries}
            names = (self.directory / f"{POOL_PREFIX}{n}" for n in itertools.count(1))
            pooled = next(c for c in names if c not in taken and not os.path.lexists(c))
            try:
                if info.branch:
                    self.repo.detach_head(path, "coordinator: worktree to the pool", info.head)
                self.repo.worktree_move(path, pooled)
            except GitError as exc:  # never fails the run: the worktree just stays
                log.warning("worktree %s was not pooled: %s", path, exc)
                return False
            crash_point("worktree-pooled")
            (admin / "config.worktree").unlink(missing_ok=True)  # not the next task's config
            self.pool.write([*entries, Pooled(pooled, info.head)])
        return True

    def _reuse(self, task_id: str, path: Path, branch: str, commit: str) -> bool:
        """Turn a pooled worktree into ``path`` on a new ``branch`` at ``commit``: renamed, its
        untracked (and unless ``reuse_ignored`` its ignored) files deleted, its index and files
        moved to ``commit`` writing only what differs, then HEAD attached to the new branch.
        A pooled worktree that holds work of any kind (nothing should) is set aside, never
        cleaned; any failure leaves ``path`` cleared and says False (a fresh add follows)."""
        with self.pool.lock:
            entries = self.pool.read()
            if not entries:
                return False
            entry = entries[0]
            self.pool.write(entries[1:])  # first: a crash now leaves a dir reconcile finds
        try:
            self.repo.worktree_move(entry.path, path)
            crash_point("pool-taken")
            state = self._pooled_state(path)  # its detached HEAD is work that landed
            if state == "changed":
                log.warning("pooled worktree %s was not clean; set aside", entry.path)
                self._clear(task_id, path, force=False)
                return False
            if state == "ignored" and not self.reuse_ignored:
                self.repo.clean_untracked(path, ignored=True)
            self.repo.switch_files(path, entry.head, commit)
            if not self.repo.update_ref(branch_ref(branch), commit, None,
                                        message="coordinator: task branch"):  # fmt: skip
                raise GitError(f"branch {branch} already exists")
            self.repo.attach_head(path, branch_ref(branch), "coordinator: reuse a worktree")
            return True
        except GitError as exc:
            log.warning("could not reuse pooled worktree %s: %s", entry.path, exc)
            for leftover in (path, entry.path):
                if self._registered(leftover) is not None:
                    self._clear(leftover.name, leftover, force=False)
            self.repo.worktree_prune()
            return False

    def reconcile_pool(self) -> list[str]:
        """Make the record and the worktrees agree (a run was cut off between two steps, or
        someone removed one): every ``.pool-<n>`` worktree git knows, detached and clean, is
        pooled, up to ``pool_size`` (the rest removed); one that is not is cleared (set aside
        if it holds work); gone ones are forgotten. Returns notes for the user."""
        with self.pool.lock:
            keep, notes = self._scan_pool()
            limit = max(self.pool_size, 0)
            for extra in keep[limit:]:
                self._clear(extra.path.name, extra.path, force=False)
            if keep[:limit] != self.pool.read():
                self.pool.write(keep[:limit])
        return notes

    def remove_pool(self) -> list[str]:
        """Remove every pooled worktree (``clean``); returns the paths removed."""
        with self.pool.lock:
            keep, _ = self._scan_pool()
            removed = [str(e.path) for e in keep
                       if self._clear(e.path.name, e.path, force=False) is None]  # fmt: skip
            if self.pool.read():
                self.pool.write([])
        return removed

    def _scan_pool(self) -> tuple[list[Pooled], list[str]]:
        """The poolable ``.pool-<n>`` worktrees git knows, oldest record first; the others are
        cleared (set aside when they hold anything)."""
        self.repo.worktree_prune()
        known = {_lexical(w.path): w for w in self.repo.worktree_list()}
        order = {e.path: i for i, e in enumerate(self.pool.read())}
        found = [p for p in known if p in order  # (also from an earlier worktrees setting)
                 or (p.parent == self.directory and p.name.startswith(POOL_PREFIX))]  # fmt: skip
        keep: list[Pooled] = []
        notes: list[str] = []
        for path in sorted(found, key=lambda p: (order.get(p, len(order)), p.name)):
            info = known[path]
            if info.branch is None and info.head and not self._holds_work(path, info):
                keep.append(Pooled(path, info.head))
                if path not in order:
                    notes.append(f"pooled worktree {path} found again (a run was cut off)")
                continue
            aside = self._clear(path.name, path, force=False)
            notes.append(f"pooled worktree {path} was not clean; "
                         + (f"moved to {aside}" if aside else "removed"))  # fmt: skip
        return keep, notes

    # ----------------------------------------------------------------- internals
    def _registered(self, path: Path) -> WorktreeInfo | None:
        return next((w for w in self.repo.worktree_list() if _lexical(w.path) == path), None)

    def _clear(self, task_id: str, path: Path, *, force: bool, held: bool = False) -> Path | None:
        info = self._registered(path)
        real_dir = path.is_dir() and not path.is_symlink()
        if info is not None and not real_dir:
            # A registration whose directory is gone (or was replaced by something else).
            aside = self._move_aside(task_id, path) if os.path.lexists(path) else None
            self.repo.worktree_prune()
            return aside
        if info is not None:
            if force:
                self.repo.worktree_remove(path, force=True)
                return None
            if not held and not self._holds_work(path, info):
                self.repo.worktree_remove(path)
                return None
            aside = self._aside_path(task_id)
            self.repo.worktree_move(path, aside)
            if info.branch:  # free the branch, so it can be renamed or deleted
                self.repo.detach_head(aside, "coordinator: set aside")
            log.warning("worktree %s had uncommitted work; moved to %s", path, aside)
            return aside
        if real_dir and not any(path.iterdir()):
            path.rmdir()
            return None
        return self._move_aside(task_id, path) if os.path.lexists(path) else None

    def _pooled_state(self, path: Path) -> str:
        """``clean``, ``ignored`` (only ignored files besides the checkout) or ``changed``
        (changes or untracked files: someone wrote there; also when status fails)."""
        try:
            fields = self.repo.status(path, submodules=True, ignored=True).split(b"\0")
        except GitError:
            return "changed"
        if any(f and not f.startswith(b"!! ") for f in fields):
            return "changed"
        return "ignored" if any(fields) else "clean"

    def _changed(self, path: Path) -> bool:
        """Changes or untracked files; a status that fails counts as changes."""
        try:
            return bool(self.repo.status(path, submodules=True).strip(b"\0"))
        except GitError:
            return True

    def _holds_work(self, path: Path, info: WorktreeInfo) -> bool:
        """Changes, untracked files, or a detached HEAD no ref contains. A status that fails
        counts as work: what cannot be shown clean is not deleted."""
        if self._changed(path):
            return True
        if info.branch is None and info.head:
            return not self.repo.contained_in_ref(info.head, *KEEPING_REFS)
        return False

    def _aside_path(self, task_id: str) -> Path:
        n = 1
        while os.path.lexists(self.directory / f"{STALE_PREFIX}{task_id}-{n}"):
            n += 1
        return self.directory / f"{STALE_PREFIX}{task_id}-{n}"

    def _move_aside(self, task_id: str, path: Path) -> Path:
        """Rename a leftover git does not know (a symlink is renamed, not followed)."""
        aside = self._aside_path(task_id)
        path.rename(aside)
        log.warning("leftover %s is not a known clean worktree; moved to %s", path, aside)
        return aside


def _lexical(path: Path) -> Path:
    """``path`` with its parent resolved but not its last component, so a symlink planted at a
    worktree path is never taken for the worktree it points to."""
    return Path(os.path.realpath(path.parent)) / path.name
