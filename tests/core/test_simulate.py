"""The simulated schedule: exact makespans on simple shapes, validity and bounds on random plans."""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from plans import make_plan

from coordinator.core.graph import topo_order
from coordinator.core.plan import Plan
from coordinator.core.simulate import (
    Schedule,
    file_groups,
    finish_times,
    lower_bound,
    simple_lower_bound,
    simulate,
)


def check_schedule(plan: Plan, schedule: Schedule, instances: int, caps: Mapping[str, int]) -> None:
    """Every constraint the scheduler promises, checked on the timeline itself."""
    by_id = {e.id: e for e in schedule.entries}
    assert sorted(by_id) == sorted(plan.ids) and len(schedule.entries) == len(plan.ids)
    for e in schedule.entries:
        assert 0 <= e.slot < instances
        assert all(by_id[d].end <= e.start for d in plan.deps[e.id])

    def concurrent(a: str, b: str) -> bool:
        x, y = by_id[a], by_id[b]
        return x.start < y.end and y.start < x.end

    entries = [e for e in schedule.entries if e.end > e.start]
    for i, x in enumerate(entries):
        for y in entries[i + 1 :]:
            if concurrent(x.id, y.id):
                assert x.slot != y.slot
                assert y.id not in plan.overlaps[x.id]
                assert not plan.task(x.id).footprint.exclusive
                assert not plan.task(y.id).footprint.exclusive
    for e in entries:  # at any start instant, per-type caps hold
        live = [x for x in entries if x.start <= e.start < x.end]
        assert len(live) <= instances
        agent = plan.task(e.id).agent
        same = sum(1 for x in live if plan.task(x.id).agent == agent)
        assert same <= min(caps.get(agent, instances), instances)


# ------------------------------------------------------------ exact shapes
@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 9])
def test_independent_tasks_fill_slots(n: int) -> None:
    plan = make_plan({f"t{i}": [] for i in range(n)}, weights={f"t{i}": 5.0 for i in range(n)})
    schedule = simulate(plan, instances=3, caps={})
    assert schedule.makespan == math.ceil(n / 3) * 5.0
    assert schedule.sequential == n * 5.0
    assert [e.slot for e in schedule.entries[:3]] == list(range(min(n, 3)))
    check_schedule(plan, schedule, 3, {})


def test_chain_takes_the_sum() -> None:
    weights = {"a": 1.0, "b": 2.0, "c": 4.0}
    plan = make_plan({"a": [], "b": ["a"], "c": ["b"]}, weights=weights)
    schedule = simulate(plan, instances=3, caps={})
    assert schedule.makespan == 7.0 == schedule.lower_bound
    assert [(e.id, e.start, e.end, e.slot) for e in schedule.entries] == [
        ("a", 0.0, 1.0, 0),
        ("b", 1.0, 3.0, 0),
        ("c", 3.0, 7.0, 0),
    ]
    assert schedule.speedup == 1.0


def test_lowest_free_slot_is_reused() -> None:
    weights = {"a": 3.0, "b": 1.0, "c": 1.0}
    schedule = simulate(
        make_plan({"a": [], "b": [], "c": []}, weights=weights), instances=2, caps={}
    )
    assert [(e.id, e.slot, e.start) for e in schedule.entries] == [
        ("a", 0, 0.0),
        ("b", 1, 0.0),
        ("c", 1, 1.0),
    ]


def test_overlap_serialises_and_durations_override_weights() -> None:
    plan = make_plan({"a": [], "b": []}, overlaps=[("a", "b")])
    schedule = simulate(plan, instances=2, caps={}, durations={"a": 2.0, "b": 3.0})
    assert schedule.makespan == 5.0 and schedule.sequential == 5.0


def test_agent_cap_limits_parallelism() -> None:
    plan = make_plan({t: [] for t in "abcd"}, agents={"c": "rev", "d": "rev"})
    schedule = simulate(plan, instances=4, caps={"coder": 1})
    assert schedule.makespan == 2.0
    assert schedule.lower_bound == 2.0  # coder work 2 over cap 1


def test_exclusive_bound_counts_exclusive_work_alone() -> None:
    plan = make_plan({t: [] for t in "abcd"}, exclusive=["a"])
    schedule = simulate(plan, instances=3, caps={})
    assert schedule.makespan == 2.0
    assert lower_bound(plan, 3, {}) == 2.0  # 1 alone + 3 over 3 slots


def test_fan_out_bound_counts_the_root_before_and_the_join_after() -> None:
    """The simple bound (critical path 25) is 29% under the best makespan here; windows fix it."""
    fan = [f"f{i}" for i in range(7)]
    deps: dict[str, list[str]] = {"root": [], **{f: ["root"] for f in fan}, "join": fan}
    plan = make_plan(deps, weights={"root": 10.0, "join": 10.0, **dict.fromkeys(fan, 5.0)})
    schedule = simulate(plan, instances=3, caps={})
    assert schedule.makespan == 35.0  # root, 3 rounds of the fan, join
    assert simple_lower_bound(plan, 3, {}) == 25.0
    assert schedule.lower_bound == pytest.approx(10 + 35 / 3 + 10)


def test_tasks_sharing_a_file_add_up() -> None:
    plan = make_plan(
        {"a": [], "b": [], "c": [], "d": []},
        weights={"a": 3.0, "b": 4.0, "c": 5.0, "d": 1.0},
        files={"a": ["x.py"], "b": ["x.py", "y.py"], "c": ["x.py"], "d": ["z.py"]},
    )
    assert file_groups(plan) == [("a", "b", "c")]
    schedule = simulate(plan, instances=4, caps={})
    assert schedule.makespan == schedule.lower_bound == simple_lower_bound(plan, 4, {}) == 12.0


def test_a_claim_the_overlaps_do_not_confirm_gives_no_group() -> None:
    """The bound must hold for the overlaps the scheduler obeys, not for what claims suggest."""
    plan = make_plan({"a": [], "b": []}, files={"a": ["x.py"], "b": ["x.py"]})
    plan = dataclasses.replace(plan, overlaps={"a": frozenset(), "b": frozenset()})
    assert file_groups(plan) == []
    assert lower_bound(plan, 2, {}) == simulate(plan, instances=2, caps={}).makespan == 1.0


def test_capped_type_window() -> None:
    """Reviews wait for the coding before them: the reviewer's cap applies after that head."""
    deps = {"c1": [], "c2": [], "r1": ["c1"], "r2": ["c1"], "r3": ["c2"]}
    agents = {"r1": "rev", "r2": "rev", "r3": "rev"}
    plan = make_plan(deps, agents=agents, weights={"c1": 4.0, "c2": 4.0})
    assert lower_bound(plan, 3, {"rev": 1}) == 4.0 + 3.0  # head 4, then 3 reviews one by one
    assert simulate(plan, instances=3, caps={"rev": 1}).makespan == 7.0


def test_empty_plan() -> None:
    schedule = simulate(make_plan({}), instances=2, caps={})
    assert schedule.entries == () and schedule.makespan == 0.0 and schedule.speedup == 1.0


def test_zero_durations_and_bad_durations() -> None:
    plan = make_plan({"a": [], "b": ["a"]}, weights={"a": 0.0, "b": 0.0})
    assert simulate(plan, instances=1, caps={}).makespan == 0.0
    with pytest.raises(ValueError):
        simulate(plan, instances=1, caps={}, durations={"a": -1.0})
    with pytest.raises(ValueError):
        simulate(plan, instances=1, caps={}, durations={"a": math.nan})


# ---------------------------------------------------------- random plans
@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Plan, int, dict[str, int]]:
    n = draw(st.integers(1, 12))
    ids = [f"t{i}" for i in range(n)]
    pick = st.sampled_from(ids)
    deps = {
        t: sorted(set(draw(st.lists(st.sampled_from(ids[:i]), max_size=3)))) if i else []
        for i, t in enumerate(ids)
    }
    plan = make_plan(
        deps,
        agents={t: draw(st.sampled_from("ab")) for t in ids},
        weights={t: float(draw(st.integers(0, 9))) for t in ids},
        overlaps=draw(st.lists(st.tuples(pick, pick), max_size=n)),
        exclusive=draw(st.sets(pick, max_size=2)),
    )
    caps = draw(st.dictionaries(st.sampled_from("ab"), st.integers(1, 3)))
    return plan, draw(st.integers(1, 4)), caps


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_random_plans_simulate_validly_within_bounds(
    scenario: tuple[Plan, int, dict[str, int]],
) -> None:
    plan, instances, caps = scenario
    schedule = simulate(plan, instances=instances, caps=caps)
    check_schedule(plan, schedule, instances, caps)
    assert schedule.lower_bound <= schedule.makespan + 1e-9
    assert schedule.makespan <= schedule.sequential + 1e-9  # never idle with work ready
    assert schedule == simulate(plan, instances=instances, caps=caps)


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.lists(st.floats(0.01, 100.0), min_size=12, max_size=12))
def test_lower_bound_holds_for_fractional_durations(
    scenario: tuple[Plan, int, dict[str, int]], lengths: list[float]
) -> None:
    plan, instances, caps = scenario
    durations = dict(zip(plan.ids, lengths, strict=False))
    schedule = simulate(plan, instances=instances, caps=caps, durations=durations)
    assert schedule.lower_bound <= schedule.makespan * (1 + 1e-9)


@st.composite
def claimed_scenarios(draw: st.DrawFn) -> tuple[Plan, int, dict[str, int], dict[str, float]]:
    """Plans with shared files, caps and exclusive tasks, a random rank and random durations."""
    n = draw(st.integers(1, 10))
    ids = [f"t{i}" for i in range(n)]
    deps = {
        t: sorted(set(draw(st.lists(st.sampled_from(ids[:i]), max_size=2)))) if i else []
        for i, t in enumerate(ids)
    }
    paths = st.lists(st.sampled_from(["a.py", "b.py", "c.py", "d.py"]), max_size=2)
    plan = make_plan(
        deps,
        agents={t: draw(st.sampled_from("ab")) for t in ids},
        files={t: draw(paths) for t in ids},
        exclusive=draw(st.sets(st.sampled_from(ids), max_size=1)),
    )
    order = draw(st.permutations(ids))
    plan = dataclasses.replace(plan, rank={t: i for i, t in enumerate(order)})
    durations = {t: draw(st.floats(0.0, 50.0)) for t in ids}
    caps = draw(st.dictionaries(st.sampled_from("ab"), st.integers(1, 3)))
    return plan, draw(st.integers(1, 4)), caps, durations


@settings(max_examples=300, deadline=None)
@given(claimed_scenarios())
def test_tight_bound_never_exceeds_any_simulated_makespan(
    scenario: tuple[Plan, int, dict[str, int], dict[str, float]],
) -> None:
    plan, instances, caps, durations = scenario
    schedule = simulate(plan, instances=instances, caps=caps, durations=durations)
    check_schedule(plan, schedule, instances, caps)
    simple = simple_lower_bound(plan, instances, caps, durations)
    assert simple <= schedule.lower_bound <= schedule.makespan * (1 + 1e-9) + 1e-9
    makespan, total = finish_times(plan, instances=instances, caps=caps, durations=durations)
    assert makespan == schedule.makespan
    assert total == pytest.approx(sum(e.end for e in schedule.entries))


# --------------------------------------------------------------- scale
def big_plan(n: int, edges: int, seed: int = 11) -> tuple[list[str], dict[str, list[str]]]:
    rng = random.Random(seed)
    ids = [f"t{i}" for i in range(n)]
    deps: dict[str, list[str]] = {t: [] for t in ids}
    for _ in range(edges):
        j = rng.randrange(1, n)
        deps[ids[j]].append(ids[rng.randrange(j)])
    rng.shuffle(ids)
    return ids, deps


def test_ten_thousand_tasks_plan_and_simulate_quickly() -> None:
    """Generous bound for slow CI machines; locally the whole thing takes well under a second."""
    ids, deps = big_plan(10_000, 20_000)
    rng = random.Random(3)
    started = time.perf_counter()
    order = topo_order(ids, deps)
    ordered = {t: deps[t] for t in order}
    overlaps = [(rng.choice(order), rng.choice(order)) for _ in range(5_000)]
    agents = {t: rng.choice("abc") for t in order}
    weights = {t: float(rng.randint(1, 60)) for t in order}
    plan = make_plan(ordered, agents=agents, weights=weights, overlaps=overlaps)
    schedule = simulate(plan, instances=8, caps={"a": 2})
    elapsed = time.perf_counter() - started
    assert len(schedule.entries) == 10_000
    assert schedule.lower_bound <= schedule.makespan
    assert elapsed < 30.0  # generous: the timing claim lives in scripts/bench plan
