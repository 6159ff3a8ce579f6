"""collect_work, foreign_refs and CheckoutGuard against real repositories and worktrees.

Every misbehaviour is set up with the git commands an agent would run, in its worktree; the
tests then check what the engine would merge, and that no commit became unreachable.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gitutil import commit_file, git, head, write

from coordinator.core.config import Identity
from coordinator.io.gitrepo import GitRepo
from coordinator.io.guardindex import PrivateIndex
from coordinator.io.workcheck import (
    RESET_REASON,
    CheckoutGuard,
    WorkCheck,
    collect_work,
    foreign_refs,
    ref_snapshot,
)
from coordinator.io.worktrees import Worktrees

BOT = Identity(name="Coord Bot", email="bot@coordinator.test")
BRANCH = "coordinator/task/t1"
REF = f"refs/heads/{BRANCH}"


@dataclass
class Task:
    """One task's setting: the repository, its worktree on the task branch, and the base."""

    grepo: GitRepo
    root: Path
    wt: Path
    base: str
    before_base: str  # the base's parent: a commit the task branch can be reset to

    def collect(self) -> WorkCheck:
        return collect_work(self.grepo, worktree=self.wt, branch=BRANCH, base=self.base,
                            identity=BOT, message="t1: leftovers")  # fmt: skip

    def branch(self) -> str | None:
        return self.grepo.rev_parse(REF)

    def agent_commit(self, rel: str, text: str) -> str:
        return commit_file(self.wt, rel, text, f"agent: {rel}")


@pytest.fixture
def task(repo: Path) -> Iterator[Task]:
    """``main`` at the initial commit; the base is one commit ahead on ``integration``."""
    before = head(repo)
    git(repo, "switch", "-q", "-c", "integration")
    base = commit_file(repo, "lib.txt", "lib\n", "integration work")
    git(repo, "switch", "-q", "main")
    with GitRepo.discover(repo) as grepo:
        wt = Worktrees(grepo, "worktrees").create("t1", BRANCH, base)
        yield Task(grepo, repo, wt, base, before)


def status(path: Path) -> str:
    return git(path, "status", "--porcelain", "--untracked-files=all")


def attached(wt: Path) -> str:
    return git(wt, "symbolic-ref", "-q", "HEAD", check=False).strip()


# ------------------------------------------------------------------------ well behaved
def test_nothing_done_is_the_base_and_ok(task: Task) -> None:
    assert task.collect() == WorkCheck(task.base, True, "", ())
    assert task.branch() == task.base


def test_agent_commits_by_itself(task: Task) -> None:
    mine = task.agent_commit("a.txt", "a\n")
    check = task.collect()
    assert (check.head, check.ok, check.notes) == (mine, True, ())
    assert task.branch() == mine


def test_uncommitted_changes_are_committed_with_the_identity(task: Task) -> None:
    mine = task.agent_commit("a.txt", "a\n")
    write(task.wt, "a.txt", "changed\n")
    write(task.wt, "new/deep.txt", "new\n")
    (task.wt / "lib.txt").unlink()
    check = task.collect()
    assert check.ok
    assert task.branch() == check.head
    assert git(task.root, "rev-parse", f"{check.head}^").strip() == mine
    assert git(task.root, "log", "-1", "--format=%an <%ae>%n%s", check.head).splitlines() == [
        "Coord Bot <bot@coordinator.test>", "t1: leftovers"]  # fmt: skip
    changed = git(task.root, "diff", "--name-status", mine, check.head).split()
    assert changed == ["M", "a.txt", "D", "lib.txt", "A", "new/deep.txt"]
    assert status(task.wt) == ""


# -------------------------------------------------------------------------- locks
def test_stale_index_lock_is_removed_and_noted(task: Task) -> None:
    write(task.wt, "a.txt", "a\n")
    admin = Path(git(task.wt, "rev-parse", "--absolute-git-dir").strip())
    (admin / "index.lock").write_text("")
    check = task.collect()
    assert check.ok and check.head != task.base
    assert not (admin / "index.lock").exists()
    assert any("index.lock" in note for note in check.notes)
    assert git(task.root, "show", f"{check.head}:a.txt") == "a\n"


def test_stale_head_and_branch_locks_are_removed(task: Task) -> None:
    admin = Path(git(task.wt, "rev-parse", "--absolute-git-dir").strip())
    (admin / "HEAD.lock").write_text("")
    branch_lock = task.grepo.git_dir / f"{REF}.lock"
    branch_lock.write_text("")
    write(task.wt, "a.txt", "a\n")
    check = task.collect()
    assert check.ok and task.branch() == check.head != task.base
    assert not branch_lock.exists() and not (admin / "HEAD.lock").exists()
    assert len(check.notes) == 2


# -------------------------------------------------------------- HEAD moved elsewhere
def test_other_branch_with_commits_and_leftovers_is_recovered(task: Task) -> None:
    git(task.wt, "switch", "-q", "-c", "agent-side")
    side = task.agent_commit("a.txt", "a\n")
    write(task.wt, "b.txt", "b\n")
    check = task.collect()
    assert check.ok, check
    assert git(task.root, "rev-parse", f"{check.head}^").strip() == side
    assert task.branch() == check.head
    assert head(task.root, "agent-side") == side  # the agent's branch did not move
    assert attached(task.wt) == REF
    assert status(task.wt) == ""  # re-attached without touching a file
    assert any("checked out agent-side" in note and "recovered" in note for note in check.notes)


def test_detached_head_with_commits_is_recovered(task: Task) -> None:
    git(task.wt, "switch", "-q", "--detach")
    mine = task.agent_commit("a.txt", "a\n")
    check = task.collect()
    assert (check.head, check.ok) == (mine, True)
    assert task.branch() == mine and attached(task.wt) == REF
    assert any("detached HEAD" in note for note in check.notes)


def test_work_continued_on_a_new_branch_fast_forwards_the_task_branch(task: Task) -> None:
    first = task.agent_commit("a.txt", "a\n")
    git(task.wt, "switch", "-q", "-c", "more")
    second = task.agent_commit("b.txt", "b\n")
    check = task.collect()
    assert (check.head, check.ok) == (second, True)
    assert git(task.root, "merge-base", "--is-ancestor", first, second, check=False) == ""


def test_work_split_between_task_branch_and_other_line_is_kept_not_merged(task: Task) -> None:
    on_task = task.agent_commit("a.txt", "a\n")
    git(task.wt, "switch", "-q", "--detach", task.base)
    elsewhere = task.agent_commit("b.txt", "b\n")
    check = task.collect()
    assert not check.ok and "split" in check.reason
    assert check.head == on_task == task.branch()
    assert head(task.root, "coordinator/recovered/t1") == elsewhere
    assert any("coordinator/recovered/t1" in note for note in check.notes)


def test_target_branch_checked_out_by_the_agent_is_never_moved(task: Task) -> None:
    git(task.wt, "switch", "-q", "integration")
    write(task.wt, "a.txt", "a\n")
    check = task.collect()
    assert check.ok and task.branch() == check.head
    assert head(task.root, "integration") == task.base
    assert attached(task.wt) == REF  # so the merger may move the target again


def test_checking_out_an_older_branch_without_changes_lands_the_task_branch(task: Task) -> None:
    mine = task.agent_commit("a.txt", "a\n")
    git(task.root, "switch", "-q", "--detach")  # free main so the worktree may check it out
    git(task.wt, "switch", "-q", "main")
    check = task.collect()
    assert (check.head, check.ok) == (mine, True)
    assert head(task.root, "main") == task.before_base
    assert attached(task.wt) == "refs/heads/main"  # nothing to recover: left as the agent left it
    assert any("no new work" in note for note in check.notes)


def test_edits_on_an_older_branch_are_kept_on_the_task_branch_not_merged(task: Task) -> None:
    git(task.root, "switch", "-q", "--detach")
    git(task.wt, "switch", "-q", "main")
    write(task.wt, "a.txt", "a\n")
    check = task.collect()
    assert not check.ok and "not based on its base" in check.reason
    assert task.branch() == check.head
    assert git(task.root, "rev-parse", f"{check.head}^").strip() == task.before_base
    assert head(task.root, "main") == task.before_base  # the user's branch did not move


def test_unborn_orphan_head_is_committed_on_the_base(task: Task) -> None:
    git(task.wt, "switch", "-q", "--orphan", "fresh")
    write(task.wt, "a.txt", "a\n")  # switch --orphan empties the tree: this is all that is left
    check = task.collect()
    assert check.ok
    assert git(task.root, "rev-parse", f"{check.head}^").strip() == task.base
    assert git(task.root, "ls-tree", "--name-only", check.head).split() == ["a.txt"]
    assert any("no commit" in note for note in check.notes)


def test_deleted_task_branch_is_recreated(task: Task) -> None:
    git(task.wt, "switch", "-q", "--detach")
    git(task.wt, "branch", "-q", "-D", BRANCH)
    check = task.collect()
    assert (check.head, check.ok) == (task.base, True)
    assert task.branch() == task.base


# --------------------------------------------------------------------------- resets
def test_reset_behind_the_base_is_not_merged_and_kept(task: Task) -> None:
    git(task.wt, "reset", "-q", "--hard", task.before_base)
    check = task.collect()
    assert (check.head, check.ok, check.reason) == (task.before_base, False, RESET_REASON)
    assert task.branch() == task.before_base


def test_reset_to_unrelated_history_with_leftovers_keeps_the_work(task: Task) -> None:
    tree = git(task.root, "mktree", input="").strip()
    orphan = git(task.root, "commit-tree", tree, "-m", "unrelated").strip()
    git(task.wt, "reset", "-q", "--hard", orphan)
    write(task.wt, "a.txt", "a\n")
    check = task.collect()
    assert (check.ok, check.reason) == (False, RESET_REASON)
    assert task.branch() == check.head
    assert git(task.root, "rev-parse", f"{check.head}^").strip() == orphan


def test_reset_branch_with_detached_work_on_the_base_is_recovered(task: Task) -> None:
    git(task.wt, "switch", "-q", "--detach")
    mine = task.agent_commit("a.txt", "a\n")
    git(task.root, "update-ref", REF, task.before_base)
    write(task.wt, "b.txt", "b\n")
    check = task.collect()
    # the detached work contains both the base and the (reset) branch tip: nothing is lost
    assert check.ok and task.branch() == check.head
    assert git(task.root, "rev-parse", f"{check.head}^").strip() == mine


def test_reset_branch_and_unrelated_detached_work_both_kept(task: Task) -> None:
    git(task.wt, "reset", "-q", "--hard", task.before_base)
    git(task.wt, "switch", "-q", "--detach")
    mine = task.agent_commit("a.txt", "a\n")
    check = task.collect()
    assert (check.head, check.ok, check.reason) == (task.before_base, False, RESET_REASON)
    assert head(task.root, "coordinator/recovered/t1") == mine
    assert any("coordinator/recovered/t1" in note for note in check.notes)


# ------------------------------------------------------------------- worktree gone
def test_deleted_worktree_uses_the_branch_and_prunes(task: Task) -> None:
    mine = task.agent_commit("a.txt", "a\n")
    shutil.rmtree(task.wt)
    check = task.collect()
    assert (check.head, check.ok) == (mine, True)
    assert any("deleted its worktree" in note for note in check.notes)
    assert [w.path for w in task.grepo.worktree_list()] == [task.root.resolve()]


def test_worktree_removed_with_git_from_inside(task: Task) -> None:
    git(task.wt, "worktree", "remove", "--force", ".")
    check = task.collect()
    assert (check.head, check.ok) == (task.base, True)


def test_worktree_and_branch_both_deleted(task: Task) -> None:
    shutil.rmtree(task.wt)
    git(task.root, "update-ref", "-d", REF)  # `branch -D` refuses until the worktree is pruned
    check = task.collect()
    assert (check.head, check.ok) == (task.base, False)
    assert "deleted" in check.reason
    assert task.branch() == task.base


def test_worktree_without_its_git_file_is_never_added_to_the_users_checkout(task: Task) -> None:
    write(task.wt, "a.txt", "a\n")
    (task.wt / ".git").unlink()
    index_before = (task.root / ".git" / "index").read_bytes()
    check = task.collect()
    assert (check.head, check.ok) == (task.base, True)
    assert (task.wt / "a.txt").read_text() == "a\n"  # left in place
    assert (task.root / ".git" / "index").read_bytes() == index_before
    assert any("no longer a git worktree" in note for note in check.notes)


def test_worktree_replaced_by_a_symlink_to_the_checkout_is_not_followed(task: Task) -> None:
    shutil.rmtree(task.wt)
    task.wt.symlink_to(task.root)
    write(task.root, "user.txt", "the user's own untracked file\n")
    index_before = (task.root / ".git" / "index").read_bytes()
    check = task.collect()
    assert (check.head, check.ok) == (task.base, True)
    assert (task.root / ".git" / "index").read_bytes() == index_before
    assert "?? user.txt" in status(task.root)


def test_worktree_turned_into_its_own_repository_is_not_ours(task: Task) -> None:
    (task.wt / ".git").unlink()
    git(task.wt, "init", "-q")
    check = task.collect()
    assert (check.head, check.ok) == (task.base, True)
    assert any("no longer a git worktree" in note for note in check.notes)


# -------------------------------------------------------------------- odd git state
def test_merge_left_in_progress_is_noted_and_committed(task: Task) -> None:
    side = git(task.root, "rev-parse", "main").strip()
    git(task.wt, "switch", "-q", "-c", "conflicting", side)
    commit_file(task.wt, "lib.txt", "theirs\n")
    git(task.wt, "switch", "-q", BRANCH)
    commit_file(task.wt, "lib.txt", "ours\n")
    git(task.wt, "merge", "-q", "conflicting", check=False)
    check = task.collect()
    assert check.ok
    assert any("merge in progress" in note for note in check.notes)
    assert "<<<<<<<" in git(task.root, "show", f"{check.head}:lib.txt")


def test_unreadable_index_is_not_merged_and_the_branch_kept(task: Task) -> None:
    mine = task.agent_commit("a.txt", "a\n")
    admin = Path(git(task.wt, "rev-parse", "--absolute-git-dir").strip())
    (admin / "index").write_bytes(b"garbage, not an index")
    check = task.collect()
    assert (check.head, check.ok) == (mine, False)
    assert "could not commit" in check.reason


# --------------------------------------------------------------------------- refs
def test_foreign_refs_reports_created_moved_deleted_outside_ours() -> None:
    before = {"refs/heads/main": "a", "refs/tags/old": "t", "refs/heads/coordinator/x": "1"}
    after = {"refs/heads/main": "b", "refs/tags/new": "n", "refs/heads/coordinator/y": "2"}
    assert foreign_refs(before, after) == ["refs/heads/main", "refs/tags/new", "refs/tags/old"]
    assert foreign_refs(before, before) == []
    assert foreign_refs(before, after, ours=()) == [
        "refs/heads/coordinator/x", "refs/heads/coordinator/y", "refs/heads/main",
        "refs/tags/new", "refs/tags/old"]  # fmt: skip


def test_ref_snapshot_sees_agent_branches_tags_and_stash(task: Task) -> None:
    before = ref_snapshot(task.grepo)
    assert before[REF] == task.base
    git(task.wt, "branch", "agent-branch")
    git(task.wt, "tag", "-a", "-m", "annotated", "v9")
    git(task.wt, "tag", "light")
    write(task.wt, "lib.txt", "stashed\n")
    git(task.wt, "stash", "-q")
    task.agent_commit("a.txt", "a\n")  # moves only the task branch: ours
    after = ref_snapshot(task.grepo)
    assert foreign_refs(before, after) == [
        "refs/heads/agent-branch", "refs/stash", "refs/tags/light", "refs/tags/v9"]  # fmt: skip
    assert after["refs/tags/v9"] != task.base  # unpeeled: the tag object itself


# ------------------------------------------------------------------- checkout guard
@pytest.fixture(params=["own index", "private copy"])
def guard(task: Task, request: pytest.FixtureRequest) -> CheckoutGuard:
    """Both ways of looking: through the user's index read-only, and through a private copy
    the guard keeps refreshed (the run's way); every guard test holds for both."""
    write(task.root, "dirty-before.txt", "user's\n")
    write(task.root, "README.md", "user edit\n")
    private = PrivateIndex.of(task.root / ".git") if request.param != "own index" else None
    checker = CheckoutGuard(task.grepo, private=private)
    checker.snapshot()
    return checker


def test_guard_is_quiet_when_nothing_changes_and_ignores_worktrees(
    task: Task, guard: CheckoutGuard
) -> None:
    write(task.wt, "agent.txt", "inside its own worktree\n")
    task.agent_commit("b.txt", "b\n")
    assert guard.changes() == []


def test_guard_reports_each_write_once(task: Task, guard: CheckoutGuard) -> None:
    index = (task.root / ".git" / "index").stat()
    write(task.root, "src/new.txt", "agent wrote here\n")
    write(task.root, "dirty-before.txt", "agent changed an already untracked file\n")
    write(task.root, "README.md", "agent changed an already modified file, longer\n")
    assert guard.changes() == ["README.md", "dirty-before.txt", "src/new.txt"]
    assert guard.changes() == []
    (task.root / "src" / "new.txt").unlink()
    assert guard.changes() == ["src/new.txt"]
    after = (task.root / ".git" / "index").stat()
    assert (after.st_mtime_ns, after.st_size) == (index.st_mtime_ns, index.st_size)


def test_guard_reports_staging_and_head_moves(task: Task, guard: CheckoutGuard) -> None:
    git(task.root, "add", "dirty-before.txt")
    assert guard.changes() == ["dirty-before.txt"]
    git(task.root, "switch", "-q", "--detach")
    assert guard.changes() == ["HEAD"]


def test_guard_handles_renames_and_odd_names(task: Task, guard: CheckoutGuard) -> None:
    git(task.root, "mv", "README.md", "read me\nnow.md")
    assert guard.changes() == ["README.md", "read me\nnow.md"]


def test_a_private_copy_follows_the_user_s_index_and_never_writes_it(task: Task) -> None:
    git_dir = task.root / ".git"
    private = PrivateIndex.of(git_dir)
    assert private.copy == git_dir / "coordinator" / "guard-index"
    checker = CheckoutGuard(task.grepo, private=private)
    checker.snapshot()
    index = (git_dir / "index").stat()
    copy = private.copy.stat()
    for n in range(3):  # each look may refresh the copy; the user's index stays as it was
        write(task.root, f"src/deep/new-{n}.txt", "agent wrote here\n")
        assert checker.changes() == [f"src/deep/new-{n}.txt"]
    after = (git_dir / "index").stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        index.st_ino, index.st_mtime_ns, index.st_size)  # fmt: skip
    assert private.copy.stat().st_mtime_ns >= copy.st_mtime_ns
    git(task.root, "add", "src/deep/new-0.txt")  # the user stages: git writes a new index
    assert checker.changes() == ["src/deep/new-0.txt"]  # now "A", read through a fresh copy
    assert private.current() == private.copy
    assert sorted(p.name for p in git_dir.glob("sharedindex.*")) == []
