"""The worktrees directory: one git worktree per running task, made and removed by the engine.

Why it is careful:

* Every path comes from ``worktreepaths``, which refuses every way out of the repository
  before anything is created or removed (and keeps the directory out of the user's status).
* A leftover from an earlier run can hold the only copy of an agent's (or a person's) work.
  Nothing with uncommitted changes or unreferenced commits is ever deleted without ``force``;
  it is moved aside to ``<worktrees>/.stale-<id>-<n>`` and logged. Task ids never start with
  ``.``, so those names cannot collide with a task.

* A finished task's worktree is kept warm for the next task (``release``, ``_reuse``; the
  record is ``coordinator.io.pool``): renaming a directory and rewriting the few files that
  differ costs far less than ``worktree add`` writing every file of a large repository.
  A task clone (``isolation = "clone"``) is made at a ``fresh_path`` too, and never pooled.

The engine's jobs call into this module from several threads, each for its own task id, so the
check-then-act sequences (one path each) need no locks; the pool's record, shared by all tasks,
changes only under its lock; ``GitRepo`` runs git's worktree administration one at a time.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from coordinator.core.refs import branch_ref
from coordinator.errors import GitError
from coordinator.io.faults import crash_point
from coordinator.io.gitrepo import GitRepo
from coordinator.io.gituntracked import relocate
from coordinator.io.gitworktree import large_git_dir, large_index
from coordinator.io.idlewatch import Arming, IdleWatch
from coordinator.io.pool import POOL_FILE, POOL_PREFIX, Pooled, PoolRecord, poolable
from coordinator.io.runfiles import state_dir
from coordinator.io.worktreeclear import changed, clear, holds_work, registered
from coordinator.io.worktreepaths import (  # the path checks, here where callers look for them
    STALE_PREFIX,
    ensure_excluded,
    exclude_pattern,
    lexical_path,
    safe_worktree_path,
    worktrees_path,
)

__all__ = ["STALE_PREFIX", "Worktrees", "ensure_excluded", "exclude_pattern",
           "safe_worktree_path", "worktrees_path"]  # fmt: skip
log = logging.getLogger(__name__)

FIRST_WAIT = 0.2  # s a start waits for a returning worktree before any fresh add was timed
MAX_WAIT = 10.0
# A task's base: a commit, or how to read the newest one when the worktree is taken.
Base = str | Callable[[], str]


class Taken(NamedTuple):
    """A task's worktree: where, whether new (False: a warm one from the pool), on which base."""

    path: Path
    fresh: bool
    base: str


def _now(base: Base) -> str:
    return base if isinstance(base, str) else base()


class Worktrees:
    """The task worktrees under one directory of one repository.

    ``pool_size`` idle worktrees are kept warm for reuse (0: every task gets a fresh ``worktree
    add``); ``reuse_ignored`` lets ignored files (build output) survive into the next task.
    ``idle`` (a run's): large pooled worktrees are watched while idle and proven clean when
    pooled, so taking one needs no scan (``coordinator.io.idlewatch``).
    """

    def __init__(
        self, repo: GitRepo, worktrees_dir: str, *, pool_size: int = 0,
        reuse_ignored: bool = False, idle: IdleWatch | None = None,
    ) -> None:  # fmt: skip
        self.repo = repo
        self.worktrees_dir = worktrees_dir
        self.directory = worktrees_path(repo.root, worktrees_dir)  # refuse bad config early
        self.pool_size = pool_size
        self.reuse_ignored = reuse_ignored
        self.pool = PoolRecord(state_dir(repo.git_dir) / POOL_FILE)
        self._returned = threading.Condition(self.pool.lock)  # a worktree joined the pool
        self._fresh_seconds = FIRST_WAIT  # what the last fresh ``worktree add`` took
        self.waited: dict[str, float] = {}  # task id -> s its start waited for the pool
        self.idle = idle
        self._arriving: set[Path] = set()  # pool names taken by releases under way

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
        return self.take(task_id, branch, commit, sparse).path

    def take(self, task_id: str, branch: str, commit: Base, sparse: Sequence[str] | None = None,
             *, coming: bool = False) -> Taken:  # fmt: skip
        """``create``, and whether the worktree is new (False: a warm one from the pool).

        ``commit`` may be a function giving the newest base: it is asked once a worktree is in
        hand, so that a pooled worktree already moved to the commit the previous task landed
        as (``release``) needs no switch, and the task starts from the newest target.
        ``coming``: a finished task's worktree is on its way back to the pool (its work is
        being collected or merged). Then an empty pool is waited on, for at most half what the
        last fresh ``worktree add`` took: a worktree back in a moment beats writing every file."""
        ensure_excluded(self.repo, self.worktrees_dir)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(task_id)  # checked again now that the directory exists
        # Nothing at the path: a pooled worktree can be moved there without asking git first
        # (a registration whose directory is gone makes the move fail, and is cleared then).
        warm = sparse is None and self.pool_size > 0 and not os.path.lexists(path)
        if not warm:
            clear(self.repo, self.directory, task_id, path, force=False)
        if sparse is None:
            reused = self._reuse(task_id, path, branch, commit, coming) if warm else None
            if reused is not None:
                return Taken(path, False, reused)
            if warm:
                clear(self.repo, self.directory, task_id, path, force=False)
            started, base = time.monotonic(), _now(commit)
            self.repo.worktree_add(path, branch, base)
            self._fresh_seconds = min(time.monotonic() - started, MAX_WAIT)
            return Taken(path, True, base)
        base = _now(commit)
        self.repo.worktree_add(path, branch, base, no_checkout=True)
        self.repo.sparse_checkout(path, ["/" + p.lstrip("/") for p in sparse])
        return Taken(path, True, base)

    def fresh_path(self, task_id: str) -> Path:
        """``task_id``'s path, cleared (see ``create``): for a new worktree or task clone."""
        ensure_excluded(self.repo, self.worktrees_dir)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(task_id)  # checked again now that the directory exists
        clear(self.repo, self.directory, task_id, path, force=False)
        return path

    def remove(self, task_id: str, *, force: bool = False, held: bool = False) -> Path | None:
        """Remove ``task_id``'s worktree if there is one; its branch stays.

        Returns where uncommitted work was moved instead of being deleted, else None. ``force``
        deletes a registered worktree even with changes in it (``clean --all --force``); a
        directory git does not know, or one ``held`` (a changed copy of an ignored ``.env``
        in it, which git does not show as work), is never deleted, only set aside."""
        return clear(self.repo, self.directory, task_id, self.path(task_id), force=force, held=held)

    def prune(self) -> list[str]:
        """Forget registrations whose directories are gone, and report (never delete) the
        entries under the worktrees directory that git does not know, repo-relative."""
        self.repo.worktree_prune()
        if not self.directory.is_dir():
            return []
        known = {lexical_path(info.path) for info in self.repo.worktree_list()}
        root = self.repo.root.resolve()
        return sorted(
            entry.relative_to(root).as_posix()
            for entry in self.directory.iterdir()
            if entry not in known
        )

    # ------------------------------------------------------------------ the pool
    def release(self, task_id: str, onto: str | None = None) -> bool:
        """Hand ``task_id``'s worktree to the pool, once its work is merged (or kept on a
        branch): HEAD is detached where it is (the branch is free to be renamed or deleted) and
        the directory renamed ``.pool-<n>``. False (the worktree stays as it is) when the pool
        is full or off, or the worktree is not a plain full checkout git knows.

        ``onto`` (the commit the work landed as: the next task's likely base) moves the files
        there now, in the releasing job, so the next task's start has nothing to rewrite; when
        that fails the worktree is pooled where it was and the taker switches it. Its ignored
        files are deleted now unless ``reuse_ignored``: finding them takes a walk of every
        directory, which the take's scan (answered from the untracked cache) no longer makes."""
        path = self.path(task_id)
        info = registered(self.repo, path)
        if self.pool_size <= 0 or info is None or not info.head or info.locked:
            return False
        admin = None if path.is_symlink() else poolable(path, self.repo.git_dir)
        pooled = None if admin is None else self._reserve()
        if admin is None or pooled is None:
            return False
        armed = self.idle.arm(path) if self.idle and large_index(admin) else None
        try:
            if not self._clean_ignored(path):
                return False
            head = info.head
            if onto and onto != head and self._switched(path, head, onto):
                head = onto  # files and index already there: detach HEAD there too
            if armed is not None:
                armed.join()  # its walk names directories by path: done before they move
            try:
                if info.branch or head != info.head:
                    self.repo.detach_head(path, "coordinator: worktree to the pool", head)
                self.repo.worktree_move(path, pooled)
            except GitError as exc:  # never fails the run: the worktree just stays
                log.warning("worktree %s was not pooled: %s", path, exc)
                return False
            crash_point("worktree-pooled")
            (admin / "config.worktree").unlink(missing_ok=True)  # not the next task's config
            armed, handed = None, armed
            self._watch_idle(pooled, admin, handed)
            with self.pool.lock:
                self.pool.write([*self.pool.read(), Pooled(pooled, head)])
                self._returned.notify_all()
            return True
        finally:
            if armed is not None and self.idle is not None:
                self.idle.disarm(armed)
            with self.pool.lock:
                self._arriving.discard(pooled)
                self._returned.notify_all()  # a take waiting on it: pooled or not, it is over

    def _reserve(self) -> Path | None:
        """A free ``.pool-<n>`` name, held for this release until its worktree is recorded
        (the record changes under the lock; the slow steps between run outside it); None when
        the pool is full."""
        with self.pool.lock:
            entries = self.pool.read()
            if len(entries) + len(self._arriving) >= self.pool_size:
                return None
            taken = {e.path for e in entries} | self._arriving
            names = (self.directory / f"{POOL_PREFIX}{n}" for n in itertools.count(1))
            pooled = next(c for c in names if c not in taken and not os.path.lexists(c))
            self._arriving.add(pooled)
            return pooled

    def _watch_idle(self, path: Path, admin: Path, armed: Arming | None) -> None:
        """A large pooled worktree (``armed``: the walk its release began, beside the switch;
        None for any other): watched first, then proven clean once (the scan a take would
        make, here off every task's path); a take then scans only if something was written
        meanwhile. A worktree that is not clean now stays unproven: its take scans it and sets
        it aside. ``admin``: its git directory."""
        if self.idle is None or armed is None:
            return
        relocate(admin, path)  # the untracked cache answers the proof here, as it did the take
        if self.idle.watch(path, armed) and changed(self.repo, path, write=True):
            self.idle.forget(path)

    def retire(self, task_id: str) -> bool:
        """Remove a merged task's worktree the pool has no room for, if registered, unlocked and
        holding no work (else it stays for ``clean``). Never fails the run."""
        path = self.path(task_id)
        info = registered(self.repo, path)
        if info is None or info.locked or path.is_symlink() or not path.is_dir():
            return False
        try:
            if holds_work(self.repo, path, info):
                return False
            self.repo.worktree_remove(path)
            return True
        except GitError as exc:
            log.warning("worktree %s stays: %s", path, exc)
            return False

    def _clean_ignored(self, path: Path) -> bool:
        """Ignored files deleted (or kept: ``reuse_ignored``); False when ``clean`` failed."""
        try:
            if not self.reuse_ignored:
                self.repo.clean_ignored(path)
        except GitError as exc:
            log.warning("worktree %s was not pooled: %s", path, exc)
            return False
        return True

    def _switched(self, path: Path, head: str, onto: str) -> bool:
        """Files and index of the clean worktree at ``path`` moved from ``head`` to ``onto``
        (``read-tree`` refuses rather than overwrite a change); False: left at ``head``."""
        try:
            self.repo.switch_files(path, head, onto)
        except GitError as exc:
            log.warning("pooled worktree %s stays at its own commit: %s", path, exc)
            return False
        crash_point("pool-switched")
        return True

    def _reuse(self, task_id: str, path: Path, branch: str, commit: Base,
               coming: bool) -> str | None:  # fmt: skip
        """Turn a pooled worktree into ``path`` on a new ``branch`` at ``commit``: renamed,
        proven clean by one ``status`` (on a large index it keeps the untracked cache it uses
        at the new path, for the scan that collects the task's work; none when the idle watch
        says nothing was written since the release proved it), its index and files moved to
        ``commit`` writing only what differs (nothing to do when ``release`` moved them there
        already), then HEAD attached to the new branch. Returns the base used. A pooled
        worktree that holds work of any kind (nothing should) is set aside, never cleaned;
        any failure leaves ``path`` cleared and says None (a fresh add follows)."""
        with self.pool.lock:
            entries = self.pool.read()
            if not entries and (coming or self._arriving):
                started = time.monotonic()
                bound = self._fresh_seconds / 2  # so a wait in vain costs at most 1.5 adds
                if coming:  # for its release to begin
                    self._returned.wait_for(lambda: bool(self.pool.read() or self._arriving),
                                            bound)  # fmt: skip
                # A release under way is waited for to its end: it once held this lock through
                # its switch and move, so a take always got the worktree it was bringing back.
                self._returned.wait_for(lambda: bool(self.pool.read()) or not self._arriving)
                self.waited[task_id] = time.monotonic() - started
                entries = self.pool.read()
            if not entries:
                return None
            entry = entries[0]
            self.pool.write(entries[1:])  # first: a crash now leaves a dir reconcile finds
        proven = self.idle is not None and self.idle.quiet(entry.path)
        if self.idle is not None:
            self.idle.forget(entry.path)
        try:
            self.repo.worktree_move(entry.path, path)
            crash_point("pool-taken")
            admin = large_git_dir(path)
            if admin is not None:
                relocate(admin, path)  # the scans' untracked cache stays valid at the new path
            if not proven and changed(self.repo, path, write=admin is not None):  # HEAD: landed
                log.warning("pooled worktree %s was not clean; set aside", entry.path)
                clear(self.repo, self.directory, task_id, path, force=False)
                return None
            base = _now(commit)
            if entry.head != base:  # usually moved already, by ``release``
                self.repo.switch_files(path, entry.head, base)
            if not self.repo.update_ref(branch_ref(branch), base, None,
                                        message="coordinator: task branch"):  # fmt: skip
                raise GitError(f"branch {branch} already exists")
            self.repo.attach_head(path, branch_ref(branch), "coordinator: reuse a worktree")
            return base
        except GitError as exc:
            log.warning("could not reuse pooled worktree %s: %s", entry.path, exc)
            for leftover in (path, entry.path):
                if registered(self.repo, leftover) is not None:
                    clear(self.repo, self.directory, leftover.name, leftover, force=False)
            self.repo.worktree_prune()
            return None

    def reconcile_pool(self) -> list[str]:
        """Make the record and the worktrees agree (a run was cut off between two steps, or
        someone removed one): every ``.pool-<n>`` worktree git knows, detached and clean, is
        pooled, up to ``pool_size`` (the rest removed); one that is not is cleared (set aside
        if it holds work); gone ones are forgotten. Returns notes for the user."""
        with self.pool.lock:
            keep, notes = self._scan_pool()
            limit = max(self.pool_size, 0)
            for extra in keep[limit:]:
                clear(self.repo, self.directory, extra.path.name, extra.path, force=False)
            if keep[:limit] != self.pool.read():
                self.pool.write(keep[:limit])
        return notes

    def remove_pool(self) -> list[str]:
        """Remove every pooled worktree (``clean``); returns the paths removed."""
        with self.pool.lock:
            keep, _ = self._scan_pool()
            gone = [e for e in keep if clear(self.repo, self.directory, e.path.name, e.path,
                                             force=False) is None]  # fmt: skip
            removed = [str(e.path) for e in gone]
            if self.pool.read():
                self.pool.write([])
        return removed

    def _scan_pool(self) -> tuple[list[Pooled], list[str]]:
        """The poolable ``.pool-<n>`` worktrees git knows, oldest record first; the others are
        cleared (set aside when they hold anything)."""
        self.repo.worktree_prune()
        known = {lexical_path(w.path): w for w in self.repo.worktree_list()}
        order = {e.path: i for i, e in enumerate(self.pool.read())}
        found = [p for p in known if p in order  # (also from an earlier worktrees setting)
                 or (p.parent == self.directory and p.name.startswith(POOL_PREFIX))]  # fmt: skip
        keep: list[Pooled] = []
        notes: list[str] = []
        for path in sorted(found, key=lambda p: (order.get(p, len(order)), p.name)):
            info = known[path]
            if info.branch is None and info.head and not holds_work(self.repo, path, info):
                keep.append(Pooled(path, info.head))
                if path not in order:
                    notes.append(f"pooled worktree {path} found again (a run was cut off)")
                continue
            aside = clear(self.repo, self.directory, path.name, path, force=False)
            notes.append(f"pooled worktree {path} was not clean; "
                         + (f"moved to {aside}" if aside else "removed"))  # fmt: skip
        return keep, notes
