"""Merging task branches into the target with plumbing only, never in the user's checkout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gitutil import checkout_state, commit_file, commit_on, git, head, write

from coordinator.core.config import Identity
from coordinator.errors import CoordinatorError
from coordinator.io.gitdata import MergeResult
from coordinator.io.gitrepo import GitRepo
from coordinator.io.history import merged_ids, task_history
from coordinator.io.merger import build_merge_message, merge_task

BOT = Identity(name="Coord Bot", email="bot@coordinator.test")
TARGET = "refs/heads/coordinator/integration"


@pytest.fixture
def grepo(repo: Path) -> Iterator[GitRepo]:
    with GitRepo.discover(repo) as opened:
        opened.create_branch("coordinator/integration", head(repo))
        yield opened


def task_branch(root: Path, task_id: str, files: dict[str, str], base: str = TARGET) -> str:
    """``coordinator/task/<id>``: one commit with ``files`` on ``base``; returns its sha."""
    return commit_on(root, base, files, f"work of {task_id}", f"coordinator/task/{task_id}")


def message(task_id: str, violations: tuple[str, ...] = ()) -> str:
    return build_merge_message(task_id, f"Title of {task_id}", "fake", "run-1", violations)


# -------------------------------------------------------------------------------- message
def test_merge_message_layout() -> None:
    text = build_merge_message(
        "add-login", "Add\n the login\tpage\x07", "claude", "20240101-abc", ["a.py", "b/c.py"],
        extra_trailers={"Coordinator-Attempt": "2"}, body="Why it was done.",
    )  # fmt: skip
    assert text == (
        "Merge task add-login: Add the login page\n"
        "\n"
        "Why it was done.\n"
        "\n"
        "Coordinator-Task: add-login\n"
        "Coordinator-Agent: claude\n"
        "Coordinator-Run: 20240101-abc\n"
        "Coordinator-Footprint-Violations: a.py, b/c.py\n"
        "Coordinator-Attempt: 2\n"
    )


def test_merge_message_without_violations_or_title() -> None:
    assert build_merge_message("t1", "  \n", "a", "r", []) == (
        "Merge task t1: t1\n\nCoordinator-Task: t1\nCoordinator-Agent: a\nCoordinator-Run: r\n"
    )


def test_merge_message_refuses_bad_or_duplicate_extra_trailer_keys() -> None:
    with pytest.raises(ValueError):
        build_merge_message("t", "x", "a", "r", [], extra_trailers={"Bad Key": "v"})
    with pytest.raises(ValueError):
        build_merge_message("t", "x", "a", "r", [], extra_trailers={"Coordinator-Task": "u"})


def test_git_parses_the_trailers_back(repo: Path, grepo: GitRepo) -> None:
    sha = task_branch(repo, "t1", {"a.txt": "a"})
    outcome = merge_task(grepo, TARGET, sha, message("t1", ("x.py", "y.py")), BOT)
    assert outcome.commit is not None
    assert grepo.first_parent_log(TARGET)[0].trailers == {
        "Coordinator-Task": "t1",
        "Coordinator-Agent": "fake",
        "Coordinator-Run": "run-1",
        "Coordinator-Footprint-Violations": "x.py, y.py",
    }


# ---------------------------------------------------------------------------------- merging
def test_clean_merge_lands_as_a_two_parent_commit(repo: Path, grepo: GitRepo) -> None:
    old = head(repo, TARGET)
    sha = task_branch(repo, "t1", {"src/a.py": "print('a')\n"})
    outcome = merge_task(grepo, TARGET, sha, message("t1"), BOT)
    assert outcome.status == "merged"
    assert outcome.conflicts == ()
    assert head(repo, TARGET) == outcome.commit
    fmt = "%P|%an <%ae>|%cn|%B"
    assert git(repo, "log", "-1", f"--format={fmt}", TARGET) == (
        f"{old} {sha}|Coord Bot <bot@coordinator.test>|Coord Bot|{message('t1')}\n"
    )
    assert git(repo, "show", f"{TARGET}:src/a.py") == "print('a')\n"
    assert "coordinator: Merge task t1: Title of t1" in git(repo, "reflog", "-1", TARGET)


def test_task_that_changed_nothing_still_lands_as_a_merge(repo: Path, grepo: GitRepo) -> None:
    old = head(repo, TARGET)
    outcome = merge_task(grepo, TARGET, old, message("noop"), BOT)  # task head == target
    assert outcome.status == "merged"
    assert outcome.commit is not None
    assert git(repo, "log", "-1", "--format=%P", outcome.commit).split() == [old, old]
    tree, first_tree = (
        head(repo, f"{r}^{{tree}}") for r in (outcome.commit, f"{outcome.commit}^1")
    )
    assert tree == first_tree
    empty = task_branch(repo, "empty", {})  # an empty commit on its own branch
    second = merge_task(grepo, TARGET, empty, message("empty"), BOT)
    assert second.commit is not None
    assert head(repo, f"{second.commit}^{{tree}}") == head(repo, f"{second.commit}^1^{{tree}}")
    assert merged_ids(task_history(grepo, "coordinator/integration")) == {
        "noop": outcome.commit,
        "empty": second.commit,
    }


def test_conflict_leaves_the_target_untouched(repo: Path, grepo: GitRepo) -> None:
    commit_file(repo, "shared.txt", "base\n")
    git(repo, "update-ref", TARGET, "HEAD")
    first = task_branch(repo, "first", {"shared.txt": "first\n", "ok.txt": "1"})
    second = task_branch(repo, "second", {"shared.txt": "second\n", "README.md": "x"})
    assert merge_task(grepo, TARGET, first, message("first"), BOT).status == "merged"
    before = head(repo, TARGET)
    outcome = merge_task(grepo, TARGET, second, message("second"), BOT)
    assert (outcome.status, outcome.commit, outcome.conflicts) == (
        "conflict",
        None,
        ("shared.txt",),
    )
    assert head(repo, TARGET) == before


def test_target_moved_during_the_merge_is_reported_not_overwritten(
    repo: Path, grepo: GitRepo
) -> None:
    sha = task_branch(repo, "t1", {"a.txt": "a"})
    intruder = commit_on(repo, TARGET, {"other.txt": "x"}, "someone else")

    class RacingRepo(GitRepo):
        """Someone else moves the target while the merge is being computed."""

        def merge_tree(
            self, ours: str, theirs: str, *, attributes: Path | None = None
        ) -> MergeResult:
            result = super().merge_tree(ours, theirs, attributes=attributes)
            git(self.root, "update-ref", TARGET, intruder)
            return result

    racing = RacingRepo(grepo.root, grepo.git_dir)
    outcome = merge_task(racing, TARGET, sha, message("t1"), BOT)
    assert (outcome.status, outcome.commit, outcome.conflicts) == ("moved", None, ())
    assert head(repo, TARGET) == intruder


def test_refuses_to_move_a_checked_out_target(repo: Path, grepo: GitRepo) -> None:
    sha = task_branch(repo, "t1", {"a.txt": "a"})
    before = head(repo)
    with pytest.raises(CoordinatorError, match="checked out"):
        merge_task(grepo, "refs/heads/main", sha, message("t1"), BOT)
    assert head(repo) == before


def test_users_checkout_is_byte_identical_after_merges(repo: Path, grepo: GitRepo) -> None:
    commit_file(repo, "src/app.py", "v1\n")
    git(repo, "update-ref", TARGET, "HEAD")
    one = task_branch(repo, "one", {"src/app.py": "v2\n", "new.txt": "n"})
    two = task_branch(repo, "two", {"README.md": "changed by two\n"})
    three = task_branch(repo, "three", {"src/app.py": "v3\n"})  # conflicts with one
    write(repo, "src/app.py", "uncommitted edit\n")
    write(repo, "staged.txt", "staged\n")
    git(repo, "add", "staged.txt")
    write(repo, "untracked.txt", "untracked\n")
    before = checkout_state(repo)
    results = [merge_task(grepo, TARGET, sha, message(t), BOT).status
               for t, sha in (("one", one), ("two", two), ("three", three))]  # fmt: skip
    assert results == ["merged", "merged", "conflict"]
    assert checkout_state(repo) == before


def test_history_reads_trailers_of_first_parent_merges_only(repo: Path, grepo: GitRepo) -> None:
    a = task_branch(repo, "a", {"a.txt": "a"})
    first = merge_task(grepo, TARGET, a, message("a"), BOT).commit
    b = task_branch(repo, "b", {"b.txt": "b"})
    second = merge_task(grepo, TARGET, b, message("b"), BOT).commit
    # A plain commit that merely mentions the trailer does not count.
    tree = head(repo, f"{TARGET}^{{tree}}")
    fake = git(repo, "commit-tree", tree, "-p", TARGET, "-m", "x\n\nCoordinator-Task: c").strip()
    git(repo, "update-ref", TARGET, fake)
    assert second is not None and first is not None
    assert merged_ids(task_history(grepo, "coordinator/integration")) == {"a": first, "b": second}
    assert task_history(grepo, "no-such-branch") == {}


def test_refuses_a_target_checked_out_in_a_linked_worktree(
    repo: Path, grepo: GitRepo, tmp_path: Path
) -> None:
    """Found from the worktrees' HEAD files, as ``worktree list`` would say, naming the place."""
    sha = task_branch(repo, "t1", {"a.txt": "a"})
    git(repo, "update-ref", TARGET, "HEAD")
    assert grepo.checked_out_at("coordinator/integration") is None
    place = tmp_path / "elsewhere"
    git(repo, "worktree", "add", "-q", str(place), TARGET.removeprefix("refs/heads/"))
    assert grepo.checked_out_at(TARGET.removeprefix("refs/heads/")) == place
    with pytest.raises(CoordinatorError, match=f"checked out in {place}"):
        merge_task(grepo, TARGET, sha, message("t1"), BOT)
    assert grepo.checked_out_at("main") == grepo.root
