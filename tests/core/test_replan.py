"""Re-planning during a run: the residual plan, the time a running task still needs, and when."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from plans import make_plan

from coordinator.core.models import TaskState
from coordinator.core.ordering import with_chosen_rank
from coordinator.core.plan import Plan
from coordinator.core.policy import Scheduler
from coordinator.core.replan import (
    REPLAN_BUDGET,
    RULES,
    SPAN,
    Replanner,
    affordable_rules,
    expected_left,
    replan_spacing,
    residual_plan,
)
from coordinator.core.simulate import simulate


def test_expected_left_is_the_estimate_at_first_and_never_runs_out_past_it() -> None:
    assert expected_left(100.0, 0.0) == 100.0
    halfway = expected_left(100.0, 50.0)
    assert 50.0 < halfway < 100.0  # conditioned on still running: more than estimate - elapsed
    at_estimate = expected_left(100.0, 100.0)
    assert 30.0 < at_estimate < 50.0  # median of D given D > m is m * exp(0.5 * 0.674)
    far = expected_left(100.0, 400.0)
    assert far > at_estimate  # the further past its estimate, the longer it is likely to run
    assert expected_left(0.0, 5.0) == 0.0
    assert expected_left(100.0, 1e9) >= 0.0


def test_rerank_changes_which_waiting_task_starts_next() -> None:
    s = Scheduler(make_plan({"a": [], "b": [], "c": []}, rank={"a": 0, "b": 1, "c": 2}),
                  instances=1, caps={})  # fmt: skip
    assert s.next_starts() == ["a"]
    s.rerank({"a": 9, "b": 1, "c": 0})  # "a" runs already: its new position is ignored
    s.agent_finished("a", ok=True)
    s.merged("a")
    assert s.next_starts() == ["c"]


def test_residual_plan_pins_running_tasks_and_drops_finished_ones() -> None:
    plan = make_plan(
        {"done": [], "run": ["done"], "wait": ["run", "done"]},
        weights={"done": 5.0, "run": 100.0, "wait": 7.0},
        priority={"wait": 3},
    )
    left = residual_plan(plan, ["run", "wait"], {"run": 100.0})
    assert left.ids == ("run", "wait")
    assert left.deps == {"run": (), "wait": ("run",)}
    assert left.task("run").spec.priority == 4  # above every waiting task's priority
    assert left.task("wait").spec.priority == 3
    assert left.weights["run"] == pytest.approx(expected_left(100.0, 100.0))
    assert left.remaining["run"] == pytest.approx(left.weights["run"] + 7.0)


def _noisy_plan(seed: int) -> tuple[Plan, dict[str, float]]:
    rng = random.Random(seed)
    n = rng.randint(4, 14)
    ids = [f"t{i:02d}" for i in range(n)]
    deps = {t: sorted({rng.choice(ids[:i]) for _ in range(rng.randint(0, 2))}) if i else []
            for i, t in enumerate(ids)}  # fmt: skip
    files = {t: [f"f{rng.randrange(5)}"] for t in ids}
    weights = {t: rng.uniform(1, 20) for t in ids}
    plan = with_chosen_rank(make_plan(deps, weights=weights, files=files), instances=2)
    true = {t: w * rng.lognormvariate(0.0, 0.5) for t, w in weights.items()}
    return plan, true


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000))
def test_a_replanned_run_keeps_every_rule(seed: int) -> None:
    plan, true = _noisy_plan(seed)
    replanner = Replanner(plan, instances=2, caps={})
    schedule = simulate(plan, instances=2, caps={}, durations=true, adjuster=replanner)
    entries = {e.id: e for e in schedule.entries}
    assert set(entries) == set(plan.ids)
    for task_id, entry in entries.items():
        assert entry.end == pytest.approx(entry.start + true[task_id])
        for dep in plan.deps[task_id]:
            assert entries[dep].end <= entry.start
        for other in plan.overlaps[task_id]:
            o = entries[other]
            assert o.end <= entry.start or entry.end <= o.start
    assert (
        max(
            sum(1 for e in entries.values() if e.start <= x.start < e.end) for x in entries.values()
        )
        <= 2
    )


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_nothing_is_replanned_while_the_estimates_hold(seed: int) -> None:
    plan, _ = _noisy_plan(seed)
    replanner = Replanner(plan, instances=2, caps={})
    with_adjuster = simulate(plan, instances=2, caps={}, adjuster=replanner)
    assert replanner.replans == 0
    assert with_adjuster == simulate(plan, instances=2, caps={})


def test_a_late_finish_or_an_overrun_calls_for_one_replan() -> None:
    plan = with_chosen_rank(
        make_plan({"a": [], "b": [], "c": [], "d": []}, weights={"a": 10, "b": 10, "c": 5, "d": 1}),
        instances=1,
    )
    s = Scheduler(plan, instances=1, caps={})
    replanner = Replanner(plan, instances=1, caps={})
    [first] = s.next_starts()
    assert not replanner.update(s, {first: 1.0})  # on time: nothing to do
    assert replanner.update(s, {first: 100.0})  # far past its estimate
    assert not replanner.update(s, {first: 200.0})  # the same overrun counts once
    replanner.finished(first, plan.weights[first])  # on time
    assert not replanner.update(s, {})
    replanner.finished(first, 3 * plan.weights[first])
    assert replanner.update(s, {}) and replanner.replans == 2
    assert s.state[first] == TaskState.RUNNING


@pytest.mark.parametrize("budget", [REPLAN_BUDGET, 1_000, 16_000])
def test_a_replan_never_costs_more_than_its_budget(budget: int) -> None:
    """A run re-plans up to once per finished task: a re-plan over budget made each task's
    cost grow with the run's size."""
    for tasks in range(1, 3 * budget):
        rules = affordable_rules(tasks, budget)
        assert 0 <= rules <= RULES
        if rules:  # two scenarios at least, of the current order and ``rules`` others
            assert 2 * tasks * (rules + 1) <= budget, (tasks, rules)
    assert affordable_rules(10, budget) == RULES  # small runs keep every rule
    assert affordable_rules(budget, budget) == 0  # too big: the order is kept


def test_re_plans_of_a_long_run_are_spaced_by_what_is_left() -> None:
    """Each re-plan costs in proportion to the tasks left: with hundreds left, a due re-plan
    waits for ``left // SPAN`` finishes, so a task's share stays the same at any size."""
    n = 5 * SPAN
    ids = [f"t{i:04d}" for i in range(n)]
    plan = make_plan({t: [] for t in ids}, weights=dict.fromkeys(ids, 1.0))
    s = Scheduler(plan, instances=4, caps={})
    replanner = Replanner(plan, instances=4, caps={})
    assert replan_spacing(n) == 5 and replan_spacing(2 * SPAN - 1) == 1 and replan_spacing(0) == 1
    running = s.next_starts()
    replans_at = []
    for done in range(1, 41):
        task_id = running.pop(0)
        s.agent_finished(task_id, ok=True)
        s.merged(task_id)
        replanner.finished(task_id, 3.0)  # every finish is far from its estimate
        if replanner.update(s, {}):
            replans_at.append(done)
        running += s.next_starts()
    # 500 left: every 5th finish; 495 left at the first re-plan: every 4th from then on
    assert replans_at == [5, 9, 13, 17, 21, 25, 29, 33, 37]
