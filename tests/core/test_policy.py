"""The scheduler state machine: unit rules on tiny plans, then random legal event sequences."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from plans import make_plan

from coordinator.core.models import TaskState
from coordinator.core.plan import Plan
from coordinator.core.policy import Scheduler, priority_key

Pick = Callable[[list[Any]], Any]  # chooses one of the legal events
S = TaskState


# ------------------------------------------------------------------ builder
def free(*ids: str) -> dict[str, list[str]]:
    return {t: [] for t in ids}


def finish_and_merge(s: Scheduler, *ids: str) -> None:
    for t in ids:
        s.agent_finished(t, ok=True)
        s.merged(t)


# ------------------------------------------------------------- readiness
def test_dependent_waits_for_merge_not_just_done() -> None:
    s = Scheduler(make_plan({"a": [], "b": ["a"]}), instances=2, caps={})
    assert s.next_starts() == ["a"]
    s.agent_finished("a", ok=True)
    assert s.next_starts() == []
    assert s.waiting_reasons() == {"b": "waiting for dependency a"}
    s.merged("a")
    assert s.next_starts() == ["b"]


def test_merged_from_previous_run_start_merged_and_unknown_ids_are_ignored() -> None:
    s = Scheduler(make_plan({"a": [], "b": ["a"]}), instances=1, caps={}, merged={"a", "gone"})
    assert s.state["a"] == S.MERGED
    assert s.next_starts() == ["b"]


# --------------------------------------------------------------- ordering
def test_priority_then_remaining_then_spec_order() -> None:
    plan = make_plan(
        {"low": [], "long": [], "plain": [], "urgent": [], "tail": ["long"]},
        priority={"urgent": 5, "low": -1},
    )
    s = Scheduler(plan, instances=1, caps={})
    started = []
    while not s.done():
        [t] = s.next_starts()
        started.append(t)
        finish_and_merge(s, t)
    # urgent by priority; long before plain (more remaining work); low last by priority.
    assert started == ["urgent", "long", "plain", "tail", "low"]


def test_rank_overrides_priority_and_ranked_go_first() -> None:
    plan = make_plan(free("a", "b", "c"), priority={"c": 9}, rank={"b": 0, "a": 1})
    assert sorted(plan.ids, key=lambda t: priority_key(plan, t)) == ["b", "a", "c"]


# ------------------------------------------------------------------ caps
def test_global_slots() -> None:
    s = Scheduler(make_plan(free("a", "b", "c")), instances=2, caps={})
    assert s.next_starts() == ["a", "b"]
    assert s.waiting_reasons() == {"c": "all 2 slots busy"}
    s.agent_finished("a", ok=True)  # the slot frees before the merge
    assert s.next_starts() == ["c"]


def test_agent_cap_and_missing_type_uses_global_cap() -> None:
    plan = make_plan(free("c1", "c2", "r1", "r2"), agents={"r1": "rev", "r2": "rev"})
    s = Scheduler(plan, instances=3, caps={"coder": 1})
    assert s.next_starts() == ["c1", "r1", "r2"]
    assert s.waiting_reasons() == {"c2": "agent type coder at cap 1"}


def test_cap_above_instances_is_clamped_and_zero_cap_is_refused() -> None:
    plan = make_plan(free("a", "b", "c"))
    assert Scheduler(plan, instances=2, caps={"coder": 9}).next_starts() == ["a", "b"]
    with pytest.raises(ValueError):
        Scheduler(plan, instances=2, caps={"coder": 0})
    with pytest.raises(ValueError):
        Scheduler(plan, instances=0, caps={})


# -------------------------------------------------------------- footprints
def test_overlap_is_reserved_until_merged() -> None:
    s = Scheduler(make_plan(free("a", "b"), overlaps=[("a", "b")]), instances=2, caps={})
    assert s.next_starts() == ["a"]
    assert s.waiting_reasons() == {"b": "footprint overlaps running a"}
    s.agent_finished("a", ok=True)
    assert s.next_starts() == []
    assert s.waiting_reasons() == {"b": "footprint overlaps a (done, not merged yet)"}
    s.merged("a")
    assert s.next_starts() == ["b"]


def test_one_sided_overlap_still_keeps_both_apart() -> None:
    plan = make_plan(free("a", "b"))
    plan = dataclasses.replace(plan, overlaps={"a": frozenset({"b"})})
    s = Scheduler(plan, instances=2, caps={})
    assert s.next_starts() == ["a"]


@pytest.mark.parametrize("release", ["failed", "not_merged", "retry"])
def test_footprint_released_when_branch_is_given_up(release: str) -> None:
    plan = make_plan(free("a", "b"), overlaps=[("a", "b")], priority={"a": 1})
    s = Scheduler(plan, instances=2, caps={})
    assert s.next_starts() == ["a"]
    plan_b_first = {"failed": ["b"], "not_merged": ["b"], "retry": ["a"]}
    if release == "failed":
        s.agent_finished("a", ok=False)
    else:
        s.agent_finished("a", ok=True)
        if release == "retry":
            s.retry("a")
        else:
            s.not_merged("a", S.CONFLICT)
    assert s.next_starts() == plan_b_first[release]
    if release == "retry":  # a runs again; b must wait for it, not for the old branch
        assert s.waiting_reasons() == {"b": "footprint overlaps running a"}


def test_exclusive_conflicts_both_ways() -> None:
    s = Scheduler(make_plan(free("x", "a", "b"), exclusive=["x"]), instances=3, caps={})
    assert s.next_starts() == ["x"]
    assert s.waiting_reasons() == {
        "a": "exclusive footprint of running x",
        "b": "exclusive footprint of running x",
    }
    finish_and_merge(s, "x")
    s2 = Scheduler(make_plan(free("a", "x", "b"), exclusive=["x"]), instances=3, caps={})
    assert s2.next_starts() == ["a", "b"]
    assert s2.waiting_reasons() == {"x": "exclusive footprint, waiting for running a"}


def test_blocked_urgent_task_does_not_block_lesser_ones() -> None:
    plan = make_plan(
        free("x", "urgent", "c"), priority={"x": 10, "urgent": 9}, overlaps=[("x", "urgent")]
    )
    s = Scheduler(plan, instances=3, caps={})
    assert s.next_starts() == ["x", "c"]
    assert s.waiting_reasons() == {"urgent": "footprint overlaps running x"}


# ------------------------------------------------------------ failures
def test_failure_skips_transitively_and_names_the_root_cause() -> None:
    plan = make_plan({"a": [], "b": ["a"], "c": ["b"], "d": [], "e": ["d", "c"]})
    s = Scheduler(plan, instances=2, caps={})
    assert s.next_starts() == ["a", "d"]
    assert s.agent_finished("a", ok=False) == ["b", "c", "e"]
    assert {t: s.skipped_because(t) for t in "bce"} == dict.fromkeys("bce", "a")
    assert s.skipped_because("d") is None
    finish_and_merge(s, "d")
    assert s.done()


def test_not_merged_conflict_skips_dependents() -> None:
    s = Scheduler(make_plan({"a": [], "b": ["a"]}), instances=1, caps={})
    s.next_starts()
    s.agent_finished("a", ok=True)
    assert s.not_merged("a", S.CONFLICT) == ["b"]
    assert s.state["a"] == S.CONFLICT and s.done()


def test_retry_runs_again_with_next_attempt() -> None:
    s = Scheduler(make_plan(free("a")), instances=1, caps={})
    assert s.attempt("a") == 1
    s.next_starts()
    s.agent_finished("a", ok=True)
    s.retry("a")
    assert s.state["a"] == S.PENDING and s.attempt("a") == 2
    assert s.next_starts() == ["a"]


def test_cancel_leaves_running_and_done_alone() -> None:
    s = Scheduler(make_plan({"a": [], "b": [], "c": ["a"]}), instances=2, caps={})
    s.next_starts()
    s.agent_finished("b", ok=True)
    assert s.cancel() == ["c"]
    assert s.next_starts() == []
    assert s.agent_finished("a", ok=False) == []  # c stays CANCELLED, not SKIPPED
    assert s.state["c"] == S.CANCELLED
    assert s.pending_merge() == ["b"]
    with pytest.raises(ValueError):
        s.retry("b")  # would leave it PENDING forever
    s.merged("b")
    assert s.done()


def test_admission_paused_starts_nothing_and_says_why() -> None:
    s = Scheduler(make_plan(free("a")), instances=1, caps={})
    assert s.next_starts(admit=False, why="disk low") == []
    assert s.waiting_reasons() == {"a": "admission: disk low"}
    assert s.next_starts(admit=False) == []
    assert s.waiting_reasons() == {"a": "admission: new starts paused"}
    assert s.next_starts() == ["a"]


def test_pending_merge_in_plan_order() -> None:
    s = Scheduler(make_plan(free("a", "b", "c")), instances=3, caps={})
    s.next_starts()
    for t in ("c", "a", "b"):
        s.agent_finished(t, ok=True)
    assert s.pending_merge() == ["a", "b", "c"]


def test_illegal_transitions_raise() -> None:
    s = Scheduler(make_plan(free("a")), instances=1, caps={})
    with pytest.raises(ValueError):
        s.agent_finished("a", ok=True)
    with pytest.raises(ValueError):
        s.merged("a")
    s.next_starts()
    with pytest.raises(ValueError):
        s.retry("a")
    s.agent_finished("a", ok=True)
    with pytest.raises(ValueError):
        s.not_merged("a", S.MERGED)
    with pytest.raises(ValueError):
        s.attempt("nope")


def test_state_view_is_read_only() -> None:
    s = Scheduler(make_plan(free("a")), instances=1, caps={})
    with pytest.raises(TypeError):
        s.state["a"] = S.MERGED  # type: ignore[index]


# ------------------------------------------------------- random sequences
@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Plan, int, dict[str, int]]:
    n = draw(st.integers(1, 9))
    ids = [f"t{i}" for i in range(n)]
    pick = st.sampled_from(ids)
    deps = {
        t: sorted(set(draw(st.lists(st.sampled_from(ids[:i]), max_size=3)))) if i else []
        for i, t in enumerate(ids)
    }
    plan = make_plan(
        deps,
        agents={t: draw(st.sampled_from("abc")) for t in ids},
        priority={t: draw(st.integers(-1, 2)) for t in ids},
        weights={t: float(draw(st.integers(0, 5))) for t in ids},
        overlaps=draw(st.lists(st.tuples(pick, pick), max_size=2 * n)),
        exclusive=draw(st.sets(pick, max_size=2)),
        rank=draw(st.dictionaries(pick, st.integers(0, 5), max_size=n)),
    )
    caps = draw(st.dictionaries(st.sampled_from("abc"), st.integers(1, 3)))
    return plan, draw(st.integers(1, 4)), caps


def ancestors(plan: Plan, task_id: str) -> set[str]:
    found: set[str] = set()
    stack = list(plan.deps[task_id])
    while stack:
        d = stack.pop()
        if d not in found:
            found.add(d)
            stack.extend(plan.deps[d])
    return found


def check_invariants(s: Scheduler, plan: Plan, instances: int, caps: Mapping[str, int]) -> None:
    running = [t for t, st_ in s.state.items() if st_ == S.RUNNING]
    assert s.running() == frozenset(running)
    assert len(running) <= instances
    for agent in {plan.task(t).agent for t in running}:
        count = sum(1 for t in running if plan.task(t).agent == agent)
        assert count <= min(caps.get(agent, instances), instances)
    reserved = [t for t, st_ in s.state.items() if st_ in (S.RUNNING, S.DONE)]
    if any(plan.task(t).footprint.exclusive for t in reserved):
        assert len(reserved) == 1
    for a in reserved:
        assert not plan.overlaps[a] & set(reserved)
    assert s.pending_merge() == [t for t in plan.ids if s.state[t] == S.DONE]


def drive(plan: Plan, instances: int, caps: Mapping[str, int], pick: Pick) -> list[Any]:
    """Run the scheduler to the end with ``pick`` choosing each event; return the decisions."""
    s = Scheduler(plan, instances=instances, caps=caps)
    trace: list[Any] = []
    cancelled = False
    for _ in range(20 * len(plan.ids) + 20):
        if pick([True, False]):
            assert s.next_starts(admit=False) == []
        before = dict(s.state)
        started = s.next_starts()
        trace.append(("start", started))
        for t in started:
            assert before[t] == S.PENDING
            assert all(s.state[d] == S.MERGED for d in plan.deps[t])
        check_invariants(s, plan, instances, caps)
        waiting = s.waiting_reasons()
        assert "ready to start" not in waiting.values()  # work-conserving
        trace.append(("waiting", waiting))
        if s.done():
            break
        options = [(kind, t) for t in s.running() for kind in ("ok", "fail")]
        options += [
            (kind, t)
            for t in s.pending_merge()
            for kind in ("merge", "conflict", "gate", "retry")
            if kind != "retry" or (s.attempt(t) < 3 and not cancelled)
        ]
        assert options, "deadlock: nothing running, nothing to merge, tasks left"
        options.sort()
        if not cancelled:
            options.append(("cancel", ""))
        kind, t = pick(options)
        cancelled |= kind == "cancel"
        trace.append((kind, t, apply(s, kind, t)))
        check_invariants(s, plan, instances, caps)
    else:
        raise AssertionError("did not finish")
    check_end(s, plan, cancelled)
    return trace


def apply(s: Scheduler, kind: str, t: str) -> object:
    actions: dict[str, Callable[[], object]] = {
        "ok": lambda: s.agent_finished(t, ok=True),
        "fail": lambda: s.agent_finished(t, ok=False),
        "merge": lambda: s.merged(t),
        "conflict": lambda: s.not_merged(t, S.CONFLICT),
        "gate": lambda: s.not_merged(t, S.FAILED),
        "retry": lambda: s.retry(t),
        "cancel": s.cancel,
    }
    return actions[kind]()


def check_end(s: Scheduler, plan: Plan, cancelled: bool) -> None:
    assert all(state.terminal for state in s.state.values())
    failed = {t for t, state in s.state.items() if state in (S.FAILED, S.CONFLICT)}
    for t in plan.ids:
        doomed = bool(ancestors(plan, t) & failed)
        if s.state[t] == S.SKIPPED:
            assert doomed and s.skipped_because(t) in ancestors(plan, t) & failed
        elif not cancelled:
            assert not doomed, t
        if s.state[t] == S.MERGED:
            assert all(s.state[d] == S.MERGED for d in plan.deps[t])


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.data())
def test_random_event_sequences_keep_every_invariant(
    scenario: tuple[Plan, int, dict[str, int]], data: st.DataObject
) -> None:
    plan, instances, caps = scenario
    picks: list[Any] = []

    def pick(options: list[Any]) -> Any:
        choice = data.draw(st.sampled_from(options))
        picks.append(choice)
        return choice

    trace = drive(plan, instances, caps, pick)
    replay = iter(picks)
    assert drive(plan, instances, caps, lambda _options: next(replay)) == trace


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_happy_path_merges_everything(scenario: tuple[Plan, int, dict[str, int]]) -> None:
    plan, instances, caps = scenario
    s = Scheduler(plan, instances=instances, caps=caps)
    while not s.done():
        assert s.next_starts() or s.pending_merge() or s.running()
        for t in sorted(s.running()):
            s.agent_finished(t, ok=True)
        for t in s.pending_merge():
            s.merged(t)
    assert set(s.state.values()) == {S.MERGED}
