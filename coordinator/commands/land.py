"""``land`` and ``revert``: move reviewed work onto the user's branch, or take a task back out.

Both move refs with compare-and-swap ``update-ref`` and build trees with ``merge-tree``; the
user's working tree is touched only by a fast-forward of the branch they have checked out, and
only when it is clean. Anything else that would need a working tree (a branch checked out with
changes, or checked out in another worktree, a merge that conflicts) is refused with one line
and nothing changed (exit 1): the user decides, the coordinator does not guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coordinator.core.branchnames import BRANCH_FIX, branch_problem
from coordinator.core.config import Config
from coordinator.core.refs import branch_ref
from coordinator.core.text import plural
from coordinator.errors import CoordinatorError, GitError, InputError, Problem
from coordinator.io.gitrepo import GitRepo
from coordinator.io.history import TRAILER_DIGEST, TRAILER_REVERT, task_history
from coordinator.io.lock import RepoLock
from coordinator.io.merger import TRAILER_TASK
from coordinator.io.runfiles import lock_path
from coordinator.project import read_config


class Refused(CoordinatorError):
    """Landing or reverting would need to touch a working tree or resolve a conflict: the
    user's call. Nothing was changed; the message says what to do instead."""

    exit_code = 1


@dataclass(frozen=True)
class Brings:
    """What landing would add to a branch: task merges and reverts, and any other commits
    of the target's own first-parent history (where it started from, e.g. main's)."""

    tasks: tuple[str, ...] = ()
    reverts: tuple[str, ...] = ()
    others: tuple[tuple[str, str], ...] = ()  # (sha, subject), newest first

    def describe(self) -> str:
        parts = []
        if self.tasks:
            parts.append(f"{plural(len(self.tasks), 'task merge')}: {', '.join(self.tasks)}")
        if self.reverts:
            parts.append(f"{plural(len(self.reverts), 'revert')}: {', '.join(self.reverts)}")
        if self.others:
            parts.append(f"{plural(len(self.others), 'other commit')}")
        return "; ".join(parts) or "no new commits"


@dataclass(frozen=True)
class LandResult:
    onto: str
    old: str  # "" when the branch was created
    new: str
    how: str  # "fast-forward", "merge", "up to date", or "created"
    brings: Brings = Brings()
    target: str = ""  # the branch that was landed

    def line(self) -> str:
        target = self.target
        if self.how == "created":
            return f"{self.onto}: created from {target} at {self.new[:12]}"
        if self.how == "up to date":
            return f"{self.onto}: up to date with {target} ({self.old[:12]})"
        return (
            f"{self.onto}: {self.how} {self.old[:12]} -> {self.new[:12]} "
            f"({self.brings.describe()})"
        )


def land(path: Path | None, *, onto: str | None, ff_only: bool, yes: bool = False) -> LandResult:
    """Bring the target's work onto ``onto`` (default: the checked-out branch).

    A branch ``onto`` that does not exist is created at the target. Landing on a branch the
    target did not start from would also bring the commits between (e.g. 49 of main's onto a
    release branch): that is refused unless ``yes``. Holds the repository lock: during a run
    the target moves under it (exit 75 instead).
    """
    with GitRepo.discover(path or Path.cwd()) as repo, RepoLock(lock_path(repo.git_dir), "land"):
        config, _ = read_config(repo.root)
        target = repo.rev_parse(branch_ref(config.target))
        if target is None:
            raise InputError(
                Problem(None, "target", f"{config.target} does not exist", "run coordinator first")
            )
        checked_out = repo.head_branch()
        branch = onto or checked_out
        if branch is None:
            raise InputError(Problem(None, "--onto", "HEAD is detached", "pass --onto BRANCH"))
        ref = branch_ref(branch)
        old = repo.rev_parse(ref)
        if old is None:
            return _create(repo, branch, target, config.target)
        if repo.is_ancestor(target, old):
            return LandResult(branch, old, old, "up to date", target=config.target)
        brings = _brings(repo, config.target, old)
        if brings.others and not yes:
            sha, subject = brings.others[-1]
            raise Refused(
                f"landing {config.target} on {branch} would bring {brings.describe()}: "
                f"{config.target} started from commits {branch} does not have (oldest: "
                f"{sha[:12]} {subject!r}); pass --yes to land them too, or land --onto a "
                "branch that has them"
            )
        result = _land(repo, config, branch, ref, old, target, checked_out, ff_only)
        return LandResult(result.onto, result.old, result.new, result.how, brings, config.target)


def _create(repo: GitRepo, branch: str, target: str, target_name: str) -> LandResult:
    """``--onto NEW``: a new branch at the target, made with a compare-and-swap."""
    if problem := branch_problem(branch):
        raise InputError(Problem(None, "--onto", f"{branch!r} {problem}", BRANCH_FIX))
    if not repo.update_ref(f"refs/heads/{branch}", target, None, message="coordinator: land"):
        raise Refused(f"refs/heads/{branch} appeared while landing; nothing was changed")
    return LandResult(branch, "", target, "created", target=target_name)


def _brings(repo: GitRepo, target: str, old: str) -> Brings:
    """The target's first-parent commits ``old`` lacks, sorted into task merges, reverts and
    the rest (agents' own commits are second parents, so they come with their task merge)."""
    tasks: list[str] = []
    reverts: list[str] = []
    others: list[tuple[str, str]] = []
    for info in repo.first_parent_log(f"refs/heads/{target}", stop_at=old):
        task = info.trailers.get(TRAILER_TASK)
        if task and len(info.parents) >= 2:
            tasks.append(task)
        elif reverted := info.trailers.get(TRAILER_REVERT):
            reverts.append(reverted)
        else:
            others.append((info.sha, info.subject))
    return Brings(tuple(reversed(tasks)), tuple(reversed(reverts)), tuple(others))


def _land(
    repo: GitRepo,
    config: Config,
    branch: str,
    ref: str,
    old: str,
    target: str,
    checked_out: str | None,
    ff_only: bool,
) -> LandResult:
    """Move ``branch`` from ``old`` to the target: a fast-forward, or a merge commit."""
    fast_forward = repo.is_ancestor(old, target)
    if branch == checked_out:
        return _fast_forward_checkout(repo, branch, old, target, config.target, fast_forward)
    elsewhere = [w for w in repo.worktree_list()[1:] if w.branch == branch]
    if elsewhere:
        raise Refused(
            f"{branch} is checked out in {elsewhere[0].path}; land from there "
            f"(coordinator -C {elsewhere[0].path} land) or check out another branch there"
        )
    if fast_forward:
        _cas(repo, ref, target, old, "landing")
        return LandResult(branch, old, target, "fast-forward")
    if ff_only:
        raise Refused(
            f"{config.target} is not a fast-forward of {branch} (--ff-only); "
            "drop --ff-only to land it as a merge commit"
        )
    merged = repo.merge_tree(old, target)
    if merged.tree is None:
        raise Refused(
            f"landing {config.target} on {branch} conflicts in "
            f"{', '.join(merged.conflicts)}; merge it by hand (git merge {config.target})"
        )
    message = f"Merge {config.target} into {branch}\n"
    new = repo.commit_tree(merged.tree, [old, target], message, config.identity)
    _cas(repo, ref, new, old, "landing")
    return LandResult(branch, old, new, "merge")


def _fast_forward_checkout(
    repo: GitRepo, branch: str, old: str, target: str, target_name: str, fast_forward: bool
) -> LandResult:
    """The one case that touches the user's files: a clean checkout moved forward by git."""
    if not fast_forward:
        raise Refused(
            f"{branch} is checked out and {target_name} is not a fast-forward of it; "
            f"merge it yourself (git merge {target_name}) or land --onto another branch"
        )
    dirty = _changed_count(repo.status(repo.root, untracked="no"))
    if dirty:
        raise Refused(
            f"{branch} is checked out with uncommitted changes "
            f"({plural(dirty, 'file')}); commit or stash them, then land again"
        )
    try:
        repo.merge_ff_only(target, repo.root)
    except GitError as exc:
        # git checks before it writes: e.g. untracked files the merge would overwrite.
        if repo.rev_parse(branch_ref(branch)) != old:
            raise
        why = _git_reason(str(exc))
        raise Refused(f"git refused to fast-forward {branch}: {why}; nothing changed") from None
    return LandResult(branch, old, target, "fast-forward")


def _changed_count(status: bytes) -> int:
    """Entries of ``status --porcelain -z``; a rename's (or copy's) old path is no entry."""
    count, fields = 0, iter(status.split(b"\0"))
    for field in fields:
        if field:
            count += 1
            if field[:1] in (b"R", b"C"):
                next(fields, None)
    return count


def _git_reason(text: str) -> str:
    """The first line git wrote that says why (its ``error:``/``fatal:`` line)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("error:", "fatal:")):
            return line.split(":", 1)[1].strip()
    return lines[-1] if lines else "unknown reason"


@dataclass(frozen=True)
class RevertResult:
    task_id: str
    commit: str  # the new revert commit, or the one that already reverted the task
    already: bool = False
    target: str = ""

    def line(self) -> str:
        target = self.target
        if self.already:
            return f"{self.task_id} is already reverted on {target} ({self.commit[:12]})"
        return f"reverted {self.task_id} as {self.commit[:12]}"


def revert(path: Path | None, task_id: str) -> RevertResult:
    """Add a revert of the task's merge (``-m 1``) on the target; say which commit did it.

    A task whose latest record on the target is already a revert is left as it is (that is
    what was asked for): ``already`` is set and nothing changes.

    The revert commit says ``Coordinator-Revert: <id>`` and carries the digest of the spec
    that landed, so the daemon leaves the task alone until that spec changes. Holds the
    repository lock, as ``land`` does.
    """
    with GitRepo.discover(path or Path.cwd()) as repo, RepoLock(lock_path(repo.git_dir), "revert"):
        config, _ = read_config(repo.root)
        ref = branch_ref(config.target)
        head = repo.rev_parse(ref)
        record = task_history(repo, config.target).get(task_id)
        if head is None or record is None:
            raise InputError(
                Problem(
                    None,
                    "TASK",
                    f"task {task_id!r} has no merge on {config.target}",
                    "name a task that `coordinator review` lists",
                )
            )
        if record.reverted:
            return RevertResult(task_id, record.commit, already=True, target=config.target)
        for tree in repo.worktree_list():
            if tree.branch == config.target:
                raise Refused(
                    f"{config.target} is checked out in {tree.path}; the coordinator moves it "
                    "without a working tree, so switch that checkout to another branch first"
                )
        merge = record.commit
        first_parent = repo.rev_parse(f"{merge}^1")
        if first_parent is None:
            raise CoordinatorError(f"the merge {merge[:12]} of {task_id} has no first parent")
        undo_tree = repo.resolve(f"{first_parent}^{{tree}}") or first_parent  # (it exists)
        identity = config.identity
        # A commit whose change is "merge -> its first parent"; merging it into the target
        # (merge base: the task's merge) applies exactly the -m 1 revert, without a checkout.
        undo = repo.commit_tree(undo_tree, [merge], f"undo {task_id}\n", identity)
        result = repo.merge_tree(head, undo)
        if result.tree is None:
            raise Refused(
                f"reverting {task_id} conflicts with later work in {', '.join(result.conflicts)}; "
                f"revert it by hand (git revert -m 1 {merge[:12]} on {config.target})"
            )
        trailers = [f"{TRAILER_REVERT}: {task_id}"]
        if record.digest:
            trailers.append(f"{TRAILER_DIGEST}: {record.digest}")
        subject = repo.subject_of(merge)
        message = (
            f"Revert task {task_id}\n\nThis reverts merge commit {merge} (-m 1),\n"
            f'"{subject}".\n\n' + "\n".join(trailers) + "\n"
        )
        new = repo.commit_tree(result.tree, [head], message, identity)
        _cas(repo, ref, new, head, "reverting")
        return RevertResult(task_id, new, target=config.target)


def _cas(repo: GitRepo, ref: str, new: str, old: str, doing: str) -> None:
    if not repo.update_ref(ref, new, old):
        raise Refused(f"{ref} moved while {doing}; nothing was changed, try again")
