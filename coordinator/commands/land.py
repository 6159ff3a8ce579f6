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

from coordinator.core.refs import branch_ref
from coordinator.errors import CoordinatorError, GitError, InputError, Problem
from coordinator.io.gitrepo import GitRepo
from coordinator.io.history import TRAILER_DIGEST, TRAILER_REVERT, task_history
from coordinator.project import read_config


class Refused(CoordinatorError):
    """Landing or reverting would need to touch a working tree or resolve a conflict: the
    user's call. Nothing was changed; the message says what to do instead."""

    exit_code = 1


@dataclass(frozen=True)
class LandResult:
    onto: str
    old: str
    new: str
    how: str  # "fast-forward", "merge", or "up to date"


def land(path: Path | None, *, onto: str | None, ff_only: bool) -> LandResult:
    """Bring the target's work onto ``onto`` (default: the checked-out branch)."""
    with GitRepo.discover(path or Path.cwd()) as repo:
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
            raise InputError(Problem(None, "--onto", f"no branch {branch!r}", "name a branch"))
        if repo.is_ancestor(target, old):
            return LandResult(branch, old, old, "up to date")
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
            f"({dirty} files); commit or stash them, then land again"
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


def revert(path: Path | None, task_id: str) -> str:
    """Add a revert of the task's merge (``-m 1``) on the target; return the new commit.

    The revert commit says ``Coordinator-Revert: <id>`` and carries the digest of the spec
    that landed, so the daemon leaves the task alone until that spec changes.
    """
    with GitRepo.discover(path or Path.cwd()) as repo:
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
            raise InputError(
                Problem(
                    None,
                    "TASK",
                    f"task {task_id!r} is already reverted on {config.target} "
                    f"({record.commit[:12]})",
                    "nothing to do",
                )
            )
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
        return new


def _cas(repo: GitRepo, ref: str, new: str, old: str, doing: str) -> None:
    if not repo.update_ref(ref, new, old):
        raise Refused(f"{ref} moved while {doing}; nothing was changed, try again")
