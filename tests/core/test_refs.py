"""Branch names the coordinator makes: one module spells them all."""

from __future__ import annotations

from coordinator.core import refs


def test_task_and_kept_branch_names() -> None:
    assert refs.task_branch("a.b") == "coordinator/task/a.b"
    assert refs.task_of_branch("coordinator/task/a.b") == "a.b"
    assert refs.kept_branch("failed", "r1", "a") == "coordinator/failed/r1/a"
    assert refs.kept_branch("old", "r1", "a", 3) == "coordinator/old/r1-3/a"
    assert refs.recovered_branch("coordinator/task/x") == "coordinator/recovered/x"
    assert refs.recovered_branch("coordinator/task/x", 2) == "coordinator/recovered/x-2"
    assert refs.branch_ref("main") == "refs/heads/main"
    assert refs.short_name("refs/heads/a/b") == "a/b"
    assert refs.short_name("refs/tags/v1") == "refs/tags/v1"


def test_every_kept_name_is_under_a_kept_prefix_and_ours() -> None:
    names = [refs.kept_branch(s, "r", "t") for s in (*refs.KEPT_STATES, "old")]
    names.append(refs.recovered_branch(refs.task_branch("t")))
    for name in names:
        assert name.startswith(refs.KEPT_PREFIXES)
        assert refs.branch_ref(name).startswith(refs.OUR_REFS)
    assert not refs.DEFAULT_TARGET.startswith(refs.RESERVED_BRANCH_PREFIXES)
    assert refs.task_branch("t").startswith(refs.RESERVED_BRANCH_PREFIXES)


def test_first_free_skips_taken_names() -> None:
    taken = {"x-1", "x-2"}
    assert refs.first_free(lambda n: f"x-{n}", taken.__contains__) == "x-3"
    assert refs.first_free(lambda n: f"y-{n}", taken.__contains__) == "y-1"
