"""The pure rules for shared state: what changed, what is put back, what is only reported."""

from __future__ import annotations

from coordinator.core import shared

A, B, C = "a" * 40, "b" * 40, "c" * 40
TARGET = "refs/heads/coordinator/integration"
TASK_X = "refs/heads/coordinator/task/x"


def plan(start: dict[str, str], now: dict[str, str], *, expected: str = A,
         at_rest: dict[str, str] | None = None) -> shared.RefPlan:  # fmt: skip
    return shared.plan_refs(start, now, target=(TARGET, expected), at_rest=at_rest or {},
                            task_refs={TASK_X})  # fmt: skip


def test_files_created_deleted_and_changed_are_found() -> None:
    before = {"config": (b"1", 0o644), "hooks/a": (b"x", 0o755), "info/exclude": (b"e", 0o644)}
    after = {"config": (b"2", 0o644), "hooks/b": (b"y", 0o755), "info/exclude": (b"e", 0o600)}
    assert shared.file_changes(before, after) == ["config", "hooks/a", "hooks/b", "info/exclude"]
    assert shared.describe_file("hooks/b", None, after["hooks/b"]) == "hooks/b created"
    assert shared.describe_file("hooks/a", before["hooks/a"], None) == "hooks/a deleted"
    mode = shared.describe_file("info/exclude", before["info/exclude"], after["info/exclude"])
    assert mode == "info/exclude mode changed"


def test_a_moved_target_is_put_back_to_the_value_the_coordinator_wrote() -> None:
    result = plan({TARGET: A}, {TARGET: C}, expected=B)
    assert result.restore == {TARGET: shared.RefChange(TARGET, B, C)}
    assert result.user == ()


def test_the_target_at_its_expected_value_is_left_alone() -> None:
    assert plan({TARGET: A}, {TARGET: B}, expected=B).restore == {}


def test_running_task_branches_are_not_judged_but_ended_ones_are() -> None:
    assert plan({TARGET: A}, {TARGET: A, TASK_X: C}).restore == {}
    ended = plan({TARGET: A}, {TARGET: A}, at_rest={TASK_X: B})
    assert ended.restore == {TASK_X: shared.RefChange(TASK_X, B, None)}


def test_earlier_runs_refs_keep_their_value_new_coordinator_refs_are_ignored() -> None:
    old = "refs/heads/coordinator/failed/r1/y"
    new = "refs/heads/coordinator/recovered/z"
    result = plan({TARGET: A, old: B}, {TARGET: A, old: C, new: C})
    assert result.restore == {old: shared.RefChange(old, B, C)}


def test_user_refs_are_reported_never_restored() -> None:
    start = {TARGET: A, "refs/heads/main": A, "refs/tags/v1": B}
    now = {TARGET: A, "refs/heads/main": C, "refs/tags/v2": C}
    result = plan(start, now)
    assert result.restore == {}
    assert {c.ref for c in result.user} == {"refs/heads/main", "refs/tags/v1", "refs/tags/v2"}
    quarantine = plan({TARGET: A}, {TARGET: A, "refs/coordinator/quarantine/r/target-1": C})
    assert quarantine.user == ()


def test_restore_commands_refuse_if_the_ref_moved_again() -> None:
    moved = shared.RefChange("refs/heads/main", A, C)
    assert moved.restore_command() == f"git update-ref refs/heads/main {A} {C}"
    deleted = shared.RefChange("refs/tags/v1", B, None)
    assert deleted.restore_command() == f"git update-ref refs/tags/v1 {B} ''"
    created = shared.RefChange("refs/tags/v2", None, C)
    assert created.restore_command() == f"git update-ref -d refs/tags/v2 {C}"
    assert "deleted" in deleted.describe() and "created" in created.describe()


def test_blame_needs_exactly_one_agent_that_could_write() -> None:
    assert shared.to_blame({"a": "worktree"}) == "a"
    assert shared.to_blame({"a": "clone"}) == "a"
    assert shared.to_blame({"a": "worktree", "b": "clone"}) is None
    assert shared.to_blame({"a": "worktree", "s": "sandbox"}) == "a"
    assert shared.to_blame({"s": "sandbox"}) is None
    assert shared.to_blame({}) is None
    assert shared.suspects({"b": "worktree", "a": "clone", "s": "sandbox"}) == ["a", "b"]


def test_symlinks_out_of_the_repository_or_into_git_are_unsafe() -> None:
    safe = [("a/link", "b.txt"), ("a/link", "../c/d.txt"), ("link", "./x"), ("a/b/l", "../../e")]
    unsafe = [("link", "/etc/passwd"), ("a/link", "../../x"), ("link", ".git/config"),
              ("a/l", "../.GIT/hooks"), ("link", ""), ("l", "sub/.git")]  # fmt: skip
    assert not [p for p in safe if shared.unsafe_link(*p)]
    assert [p for p in unsafe if shared.unsafe_link(*p)] == unsafe
