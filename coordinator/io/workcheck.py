"""Collecting a task's work once its agent's process tree is dead, whatever the agent did to git.

A well-behaved agent edits files in its worktree and maybe commits them on its task branch.
Real agents also leave ``index.lock`` behind when killed, check out other branches, detach HEAD,
reset their branch, delete their own worktree, create branches and tags, or write into the
user's checkout. ``collect_work`` turns each of those into one answer for the engine: which
commit holds the task's work, whether it may be merged, and notes for the user. Its rules:

* Nothing an agent made is ever deleted or made unreachable. Leftover changes are committed
  (plumbing, with the coordinator's identity); a commit that only a detached HEAD or a
  leftover commit held is kept under ``coordinator/recovered/<task>`` when the task branch
  cannot take it. Only the task branch is ever moved, always by compare-and-swap: a branch the
  agent checked out (even the user's) is left exactly where the agent put it.
* The worktree must prove it is still this task's linked worktree of this repository (not a
  symlink, its own top level, the same common git dir) before ``git add`` runs in it. A
  worktree whose ``.git`` file was deleted would otherwise let ``git add -A`` run in the
  enclosing user checkout.
* Locks are removed only where the dead agent was the sole possible writer: its worktree's
  ``index.lock``/``HEAD.lock`` and its task branch's ref lock, never ``packed-refs.lock``.
* Git state the agent changed outside its task (refs, the user's checkout) is reported, never
  undone: ``foreign_refs`` and ``CheckoutGuard`` only compare snapshots.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from coordinator.core.config import Identity
from coordinator.core.refs import OUR_REFS, branch_ref, first_free, recovered_branch, short_name
from coordinator.errors import GitError
from coordinator.io.gitrepo import GitRepo
from coordinator.io.gitworktree import large_index
from coordinator.io.guardindex import PrivateIndex
from coordinator.io.worktrees import STALE_PREFIX

RESET_REASON = "task branch was reset behind its base"
_IN_PROGRESS = {"MERGE_HEAD": "merge", "rebase-merge": "rebase", "rebase-apply": "rebase",
                "CHERRY_PICK_HEAD": "cherry-pick", "REVERT_HEAD": "revert"}  # fmt: skip
_HEAD_KEY = "\0HEAD"  # a key no path can equal, shown as "HEAD"


@dataclass(frozen=True)
class WorkCheck:
    """What the engine merges. ``head`` is the commit holding the task's work and the task
    branch points at it afterwards; ``ok=False`` means it must not be merged (``reason`` says
    why) and the branch is kept anyway; ``notes`` are things to show the user as events."""

    head: str
    ok: bool
    reason: str
    notes: tuple[str, ...]


def collect_work(
    repo: GitRepo, *, worktree: Path, branch: str, base: str, identity: Identity, message: str,
    keep_out: Sequence[str] = (),
) -> WorkCheck:  # fmt: skip
    """Commit what the (dead) agent left in ``worktree`` and decide what the task's work is.

    ``branch`` is the task branch (short name) made at ``base``; ``message`` is used for the
    commit of leftover changes, which never holds the ``keep_out`` paths (files the coordinator
    placed into the worktree: a copied ``.env``, a linked ``node_modules``). Decisions, with W
    the worktree's HEAD plus leftover changes and B the task branch:

    * HEAD on the task branch (the normal case): B moves to W. Not merged when W does not
      descend from ``base`` (``RESET_REASON``): the agent reset or rewrote its branch.
    * HEAD elsewhere (another branch, detached, unborn) and W descends from both ``base`` and
      B: the work is recovered: B moves to W and HEAD is re-attached to B without touching a
      file (``symbolic-ref``; the index already holds W's tree).
    * HEAD elsewhere otherwise: B is used when W holds nothing new (W is on some ref already,
      e.g. the agent just checked out ``main``); when W is new and B has task commits of its
      own, the work is split: not merged, W kept under ``coordinator/recovered/``; when W is
      new and B holds nothing, B moves to W but it is not merged (not based on ``base``).
    * Worktree gone or no longer a worktree of this repository: B is used as it is (its files,
      if any, stay where they are), the registration is pruned; B deleted too: not merged.
    """
    ref = branch_ref(branch)
    notes: list[str] = []
    found = _admin_dir(repo, worktree, ref)
    if found is None:
        return _without_worktree(repo, worktree, ref, base, identity, notes)
    admin, facts = found
    _remove_stale_locks(repo, admin, ref, notes)
    for name, operation in _IN_PROGRESS.items():
        if (admin / name).exists():
            notes.append(f"the agent left a {operation} in progress; its files were committed")
            break
    try:
        work, parent, attached, old = _commit_leftovers(
            repo, worktree, ref, base, identity, message, notes, keep_out, facts,
            large_index(admin),
        )  # fmt: skip
    except GitError as exc:
        head = repo.rev_parse(ref) or _recreate(repo, ref, base, identity)
        said = str(exc).splitlines()[-1] if str(exc).strip() else "git failed"
        return WorkCheck(head, False, f"could not commit the agent's leftover changes: {said}",
                         tuple(notes))  # fmt: skip
    return decide(repo, ref, base, (work, parent), attached, old, identity, notes,
                  lambda: _reattach(repo, worktree, ref))  # fmt: skip


def decide(
    repo: GitRepo, ref: str, base: str, work_parent: tuple[str, str], attached: str | None,
    old: str | None, identity: Identity, notes: list[str], reattach: Callable[[], None],
) -> WorkCheck:  # fmt: skip
    """The rules of ``collect_work`` once W and its parent (``work_parent``), where HEAD was
    (``attached``) and the task branch's commit (``old``) are known; ``reattach`` points HEAD
    back at the task branch. Task clones use them too."""
    work, parent = work_parent
    if attached == ref:
        if old is None:
            notes.append(f"the agent deleted {short_name(ref)} while it was checked out; "
                         "recreated")  # fmt: skip
        _move(repo, ref, work, old, identity)
        ok = parent == base or repo.is_ancestor(base, work)  # W is base or on top of it
        return WorkCheck(work, ok, "" if ok else RESET_REASON, tuple(notes))
    return _head_elsewhere(repo, reattach, ref, base, work, attached, old, identity, notes)


def _head_elsewhere(
    repo: GitRepo, reattach: Callable[[], None], ref: str, base: str, work: str,
    attached: str | None, old: str | None, identity: Identity, notes: list[str],
) -> WorkCheck:  # fmt: skip
    """The agent left its worktree off the task branch: find where its work is (see above)."""
    branch = short_name(ref)
    where = f"checked out {short_name(attached)}" if attached else "detached HEAD"
    if repo.is_ancestor(base, work) and (old is None or repo.is_ancestor(old, work)):
        _move(repo, ref, work, old, identity)
        reattach()
        notes.append(f"agent {where} in its worktree; its work was recovered onto {branch}")
        return WorkCheck(work, True, "", tuple(notes))
    new = not _reachable(repo, work)
    if old is not None and not repo.is_ancestor(base, old):
        if new:
            notes.append(f"the worktree's state ({where}) was kept as {_keep(repo, work, branch)}")
        return WorkCheck(old, False, RESET_REASON, tuple(notes))
    if not new:
        head = old or _recreate(repo, ref, base, identity)
        notes.append(f"agent {where} in its worktree, which holds no new work; {branch} is used")
        return WorkCheck(head, True, "", tuple(notes))
    if old is not None and old != base:
        kept = _keep(repo, work, branch)
        reason = f"the agent's work is split between {branch} and its worktree ({where})"
        notes.append(f"the worktree's state ({where}) was kept as {kept}")
        return WorkCheck(old, False, reason, tuple(notes))
    _move(repo, ref, work, old, identity)
    reattach()
    notes.append(f"agent {where} in its worktree; that work was put on {branch}")
    return WorkCheck(work, False, f"the agent's work is not based on its base ({where})",
                     tuple(notes))  # fmt: skip


def _without_worktree(
    repo: GitRepo, worktree: Path, ref: str, base: str, identity: Identity, notes: list[str]
) -> WorkCheck:
    """The worktree is gone (or is not ours any more): the task branch is all that is left."""
    moved = _moved_to(repo, worktree, ref, base)
    if moved is not None:
        return _moved_away(repo, moved, worktree, ref, base, identity, notes)
    if os.path.lexists(worktree):
        notes.append(f"{worktree} is no longer a git worktree of this repository; its files "
                     "were left in place and not committed")  # fmt: skip
    else:
        notes.append(f"the agent deleted its worktree {worktree}")
    repo.worktree_prune()
    old = repo.rev_parse(ref)
    if old is None:
        head = _recreate(repo, ref, base, identity)
        reason = "the agent deleted its worktree and its task branch; no work is left"
        return WorkCheck(head, False, reason, tuple(notes))
    ok = repo.is_ancestor(base, old)
    return WorkCheck(old, ok, "" if ok else RESET_REASON, tuple(notes))


def _moved_to(repo: GitRepo, worktree: Path, ref: str, base: str) -> Path | None:
    """Where git now has the task's worktree, when something moved it rather than deleting it:
    a worktree on the task branch elsewhere, or one set aside beside it (``.stale-<id>-<n>``,
    detached at the branch's commit, as a coordinator does with a leftover holding work)."""
    branch = short_name(ref)
    heads = {base, repo.rev_parse(ref)}
    for info in repo.worktree_list()[1:]:
        path = Path(info.path)
        if path == worktree or not path.is_dir():
            continue
        aside = path.parent == worktree.parent and path.name.startswith(
            f"{STALE_PREFIX}{worktree.name}-"
        )
        if info.branch == branch or (aside and info.branch is None and info.head in heads):
            return path
    return None


def _moved_away(
    repo: GitRepo, moved: Path, worktree: Path, ref: str, base: str, identity: Identity,
    notes: list[str],
) -> WorkCheck:  # fmt: skip
    """The worktree was moved while the task ran: its work is there, not on the branch, so the
    branch must not be merged as if the agent had done nothing. Nothing is collected from a
    directory the run did not make; the user is told where the files are."""
    branch = short_name(ref)
    if moved.name.startswith(STALE_PREFIX):
        how = f"was moved aside to {moved} by another coordinator command while the task ran"
    else:
        how = f"was moved to {moved} while the task ran (not by the coordinator's run)"
    notes.append(f"the worktree {worktree} {how}; its files there were not collected")
    head = repo.rev_parse(ref) or _recreate(repo, ref, base, identity)
    reason = f"its worktree {how}; the work is there, not on {branch}"
    return WorkCheck(head, False, reason, tuple(notes))


_Facts = tuple[str, str, str | None, str]  # HEAD, its tree, the ref HEAD is on, the branch


def _admin_dir(repo: GitRepo, worktree: Path, ref: str) -> tuple[Path, _Facts | None] | None:
    """The worktree's own git dir, if ``worktree`` is still a linked worktree of ``repo``, with
    its HEAD facts read by the same command when they resolve (see ``_commit_leftovers``)."""
    if worktree.is_symlink() or not worktree.is_dir():
        return None
    found = repo.worktree_facts(worktree, ref)
    if found is None:
        return None
    top, common, admin = (path.resolve() for path in found[0])
    mine = top == worktree.resolve() and common == repo.git_dir.resolve() and admin != common
    return (admin, found[1]) if mine else None


def _remove_stale_locks(repo: GitRepo, admin: Path, ref: str, notes: list[str]) -> None:
    """Locks only this task's dead agent could hold; any other writer would be a bug."""
    for lock in (admin / "index.lock", admin / "HEAD.lock", repo.git_dir / f"{ref}.lock"):
        if lock.is_file():
            lock.unlink()
            notes.append(f"removed stale {lock.name} left by the agent ({lock})")


def _commit_leftovers(
    repo: GitRepo, worktree: Path, ref: str, base: str, identity: Identity, message: str,
    notes: list[str], keep_out: Sequence[str] = (), facts: _Facts | None = None,
    listed: bool = False,
) -> tuple[str, str, str | None, str | None]:  # fmt: skip
    """W: a commit of everything in the worktree on top of its HEAD (or ``base`` when HEAD is
    unborn), made without moving any ref; W's parent (or W itself when nothing was left); the
    ref HEAD is attached to (None: detached); and the task branch's commit (None: deleted).
    The usual case asks git once for all of it (``facts``, read before staging: the agent is
    dead and staging moves no ref); an unborn HEAD or a deleted branch, one by one.
    ``listed``: stage from one ``status`` (a large index: see ``GitRepo.stage_all``).
    """
    tree = repo.stage_all(worktree, keep_out=keep_out, listed=listed)
    head: str | None
    head_tree: str | None
    old: str | None
    if facts is not None:
        head, head_tree, attached, old = facts
    else:
        head = repo.resolve("HEAD^{commit}", cwd=worktree)
        attached, old = repo.attached_ref(worktree), repo.rev_parse(ref)
        head_tree = repo.resolve(f"{head or base}^{{tree}}", cwd=worktree)
    if head is None:
        notes.append("the worktree's HEAD had no commit; its files were committed on the base")
    parent = head or base
    if head_tree == tree:
        return parent, parent, attached, old
    return repo.commit_tree(tree, [parent], message, identity), parent, attached, old


def _move(repo: GitRepo, ref: str, new: str, old: str | None, identity: Identity) -> None:
    """Compare-and-swap the task branch; the agent is dead, so a lost race is a real error."""
    if new == old:
        return
    if not repo.update_ref(ref, new, old, message="coordinator: collect work", identity=identity):
        raise GitError(f"{ref} moved while the coordinator was collecting the task's work")


def _recreate(repo: GitRepo, ref: str, base: str, identity: Identity) -> str:
    _move(repo, ref, base, None, identity)
    return base


def _reattach(repo: GitRepo, worktree: Path, ref: str) -> None:
    """Point HEAD at the task branch; files and index stay (they already match its commit)."""
    repo.attach_head(worktree, ref, "coordinator: reattach to the task branch")


def _reachable(repo: GitRepo, sha: str) -> bool:
    """Whether any ref (branch, tag, remote, stash...) already contains ``sha``."""
    return repo.contained_in_ref(sha)


def _keep(repo: GitRepo, sha: str, branch: str) -> str:
    """A new branch ``coordinator/recovered/<task>[-n]`` at ``sha``, so nothing is orphaned."""

    def taken(name: str) -> bool:
        return not repo.update_ref(branch_ref(name), sha, None, message="coordinator: keep work")

    return first_free(lambda n: recovered_branch(branch, n), taken)


# ------------------------------------------------------------------ refs and checkouts
def ref_snapshot(repo: GitRepo) -> dict[str, str]:
    """Every ref -> the object it names (tags unpeeled), for ``foreign_refs`` to compare."""
    return repo.all_refs()


def foreign_refs(
    before: Mapping[str, str], after: Mapping[str, str], *, ours: Sequence[str] = OUR_REFS
) -> list[str]:
    """Refs created, moved or deleted between two snapshots, outside the prefixes in ``ours``.

    The coordinator only writes under ``refs/heads/coordinator/``; anything else that changed
    during a run was an agent's doing (or the user's: a snapshot cannot tell) and is reported,
    never undone: a stash or a branch may hold the only copy of some work.
    """
    names = before.keys() | after.keys()
    changed = (n for n in names if before.get(n) != after.get(n))
    return sorted(n for n in changed if not n.startswith(tuple(ours)))


class CheckoutGuard:
    """Notices writes into a checkout no agent should touch (the user's, by default).

    A snapshot is ``git status --porcelain=v2 -z --untracked-files=all`` (index and tracked
    changes, untracked files) plus the size and mtime of every path it lists (a second write to
    an already-dirty file changes no status line) plus HEAD. Looking never rewrites the user's
    index: ``status`` runs with ``GIT_OPTIONAL_LOCKS=0`` (see ``git_env``), or through a
    ``private`` copy of it that it may write (``guardindex``: the same answer, cheaper).
    Not seen: ignored files, and edits that restore a path's exact size and mtime. Who wrote is
    not known either: the user may be editing too, so reports should say "changed", not blame.
    """

    def __init__(self, repo: GitRepo, root: Path | None = None,
                 private: PrivateIndex | None = None) -> None:  # fmt: skip
        self.repo = repo
        self.root = root or repo.root
        self.private = private  # looks through a copy of the index (``guardindex``)
        self._last: dict[str, tuple[str, int, int] | str] = {}

    def snapshot(self) -> None:
        """Take the baseline that ``changes`` compares with."""
        self._last = self._read()

    def changes(self) -> list[str]:
        """Paths (repo-relative; ``HEAD`` for a moved HEAD) that changed since the last
        snapshot, sorted. The baseline becomes now, so each change is reported once."""
        now = self._read()
        keys = self._last.keys() | now.keys()
        changed = sorted(k for k in keys if self._last.get(k) != now.get(k))
        self._last = now
        return ["HEAD" if k == _HEAD_KEY else k for k in changed]

    def _read(self) -> dict[str, tuple[str, int, int] | str]:
        state: dict[str, tuple[str, int, int] | str] = {}
        index = self.private.current() if self.private is not None else None
        for path, status in _status(self.repo, self.root, index).items():
            try:
                info = os.lstat(self.root / path)
                stat = (info.st_size, info.st_mtime_ns)
            except OSError:
                stat = (-1, -1)
            state[path] = (status, *stat)
        state[_HEAD_KEY] = self.repo.head_state(self.root)
        return state


def uncommitted_paths(repo: GitRepo) -> list[str]:
    """Paths of the user's checkout with changes no commit holds (staged, unstaged, untracked
    and not ignored), sorted: what a run, which starts from commits, does not see."""
    return sorted(_status(repo, repo.root))


def _status(repo: GitRepo, root: Path, index: Path | None = None) -> dict[str, str]:
    """``git status --porcelain=v2``: each listed path and its status fields."""
    fields = repo.status(root, untracked="all", v2=True, index=index).split(b"\0")
    found: dict[str, str] = {}
    skip = False
    for field in fields:
        if skip or not field:  # the original path of a rename, or the final empty field
            skip = False
            continue
        kind = field[:1]
        cut = {b"1": 8, b"2": 9, b"u": 10, b"?": 1, b"!": 1}.get(kind)
        if cut is None:  # "#" header lines
            continue
        parts = field.split(b" ", cut)
        skip = kind == b"2"
        found[os.fsdecode(parts[cut])] = os.fsdecode(b" ".join(parts[:cut]))
    return found
