"""The merge queue's rules, without git: rounds, speculative groups, bisection's cost."""

from __future__ import annotations

import math

import pytest

from coordinator.core.mergequeue import MergeQueue


def drive(queue: MergeQueue, tasks: list[str], bad: set[str]) -> tuple[list[str], list[str]]:
    """Run rounds to the end with a gate that fails any group holding a ``bad`` task (each
    group's gate sees everything chained before it in the round)."""
    waiting = list(tasks)
    landed: list[str] = []
    failed: list[str] = []
    for _ in range(1000):
        groups = queue.next_round(waiting)
        if not groups:
            break
        seen: set[str] = set()
        passed = []
        for group in groups:
            seen.update(group)
            passed.append(not (seen & bad))
        verdict = queue.judge(groups, passed)
        landed += verdict.land
        failed += [t for t, _ in verdict.fail]
        waiting = [t for t in waiting if t not in verdict.land and t not in failed]
    return landed, failed


def test_a_round_takes_parallel_groups_of_batch_entries_in_order() -> None:
    queue = MergeQueue(parallel=3, batch=2)
    assert queue.next_round(list("abcdefgh")) == [("a", "b"), ("c", "d"), ("e", "f")]
    assert MergeQueue(parallel=2).next_round(list("abc")) == [("a",), ("b",)]
    assert MergeQueue().next_round([]) == []


def test_leading_passes_land_and_a_single_failure_fails_only_its_task() -> None:
    queue = MergeQueue(parallel=3)
    verdict = queue.judge([("a",), ("b",), ("c",)], [True, False, False])
    assert verdict.land == ("a",)
    assert verdict.fail == (("b", 1),)
    assert queue.next_round(["c", "d"]) == [("c",), ("d",)]  # c is rebuilt without b


def test_every_group_passing_lands_everything_in_order() -> None:
    queue = MergeQueue(parallel=2, batch=2)
    verdict = queue.judge([("a", "b"), ("c",)], [True, True])
    assert verdict.land == ("a", "b", "c") and verdict.fail == ()


@pytest.mark.parametrize("batch", [2, 4, 8])
@pytest.mark.parametrize("position", range(8))
def test_bisection_fails_exactly_the_culprit_within_log2_probes(batch: int, position: int) -> None:
    tasks = [f"t{i:02}" for i in range(30)]
    culprit = tasks[8 + position]
    queue = MergeQueue(parallel=3, batch=batch)
    landed, failed = drive(queue, tasks, {culprit})
    assert failed == [culprit]
    assert landed == [t for t in tasks if t != culprit]
    assert queue.probes <= math.ceil(math.log2(batch))
    baseline = MergeQueue(parallel=3, batch=batch)
    drive(baseline, tasks, set())
    assert queue.gate_runs - baseline.gate_runs <= 2 * math.log2(batch) + 2


def test_a_batch_of_two_bad_tasks_fails_both_and_lands_the_rest() -> None:
    tasks = list("abcdefgh")
    landed, failed = drive(MergeQueue(parallel=2, batch=4), tasks, {"b", "c"})
    assert sorted(failed) == ["b", "c"]
    assert landed == [t for t in tasks if t not in {"b", "c"}]


def test_an_entry_dropped_mid_bisection_leaves_the_rest_bisected() -> None:
    queue = MergeQueue(parallel=1, batch=4)
    queue.judge([("a", "b", "c", "d")], [False])
    assert queue.next_round(list("abcd")) == [("a", "b")]
    queue.drop("a")
    assert queue.next_round(list("bcd")) == [("b",)]
    verdict = queue.judge([("b",)], [True])
    assert verdict.land == ("b",) and verdict.fail == ()
    assert queue.next_round(list("cd")) == [("c",)]
    verdict = queue.judge([("c",)], [True])
    assert verdict.land == ("c",)
    assert verdict.fail == (("d", -1),) and verdict.inferred  # right half of one: the culprit


def test_nonsense_is_refused() -> None:
    with pytest.raises(ValueError):
        MergeQueue(parallel=0)
    with pytest.raises(ValueError):
        MergeQueue().judge([("a",)], [])
