"""Choosing the rank by simulation: better where rules fail, never worse, deterministic."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st
from plans import make_plan

from coordinator.core.config import AgentConfig, Config
from coordinator.core.footprint import RepoPaths
from coordinator.core.models import TaskSpec
from coordinator.core.ordering import candidate_orders, choose_rank, with_chosen_rank
from coordinator.core.plan import Plan
from coordinator.core.planner import build_plan
from coordinator.core.policy import priority_key
from coordinator.core.simulate import finish_times, simulate


def makespan(plan: Plan, rank: Mapping[str, int], instances: int, **caps: int) -> float:
    return finish_times(dataclasses.replace(plan, rank=dict(rank)), instances=instances, caps=caps)[
        0
    ]


def blocking_plan() -> Plan:
    """a -> d and b -> c, each chain 6 long; a shares a file with b, and d with both b and c.

    Longest path first ties a and b, and spec order picks a: it blocks b, whose chain then
    collides with d's file, for 12 minutes on 2 slots. Starting b first takes 7.
    """
    return make_plan(
        {"a": [], "b": [], "c": ["b"], "d": ["a"]},
        weights={"a": 5.0, "b": 1.0, "c": 5.0, "d": 1.0},
        files={"a": ["x.py"], "b": ["x.py", "y.py"], "c": ["z.py"], "d": ["y.py", "z.py"]},
    )


def test_a_start_that_blocks_others_goes_later() -> None:
    plan = blocking_plan()
    assert simulate(plan, instances=2, caps={}).makespan == 12.0
    rank = choose_rank(plan, instances=2, caps={})
    assert rank["b"] < rank["a"]
    assert makespan(plan, rank, 2) == 7.0


def test_rank_is_a_full_order_and_the_same_every_time() -> None:
    plan = blocking_plan()
    rank = choose_rank(plan, instances=2, caps={})
    assert sorted(rank) == sorted(plan.ids)
    assert sorted(rank.values()) == list(range(len(plan.ids)))
    assert all(choose_rank(plan, instances=2, caps={}) == rank for _ in range(3))


def test_rank_semantics_start_order_on_one_slot_follows_the_rank() -> None:
    """Among ready tasks the best-ranked starts first: one slot makes the order visible."""
    plan = make_plan(
        {t: [] for t in "abcde"}, weights=dict(zip("abcde", [1.0, 5, 2, 4, 3], strict=True))
    )
    rank = choose_rank(plan, instances=1, caps={})
    started = [
        e.id for e in simulate(dataclasses.replace(plan, rank=rank), instances=1, caps={}).entries
    ]
    assert started == sorted(rank, key=rank.__getitem__)


def test_explicit_priorities_stay_ahead() -> None:
    plan = make_plan(
        {"a": [], "b": [], "c": ["b"], "d": ["a"]},
        weights={"a": 5.0, "b": 1.0, "c": 5.0, "d": 1.0},
        files={"a": ["x.py"], "b": ["x.py", "y.py"], "c": ["z.py"], "d": ["y.py", "z.py"]},
        priority={"a": 1},
    )
    rank = choose_rank(plan, instances=2, caps={})
    assert rank["a"] == 0  # the user asked for a first, even though b first is faster


def test_too_big_for_the_budget_gets_the_default_order() -> None:
    plan = blocking_plan()
    rank = choose_rank(plan, instances=2, caps={}, budget=len(plan.ids))  # one simulation
    assert sorted(rank, key=rank.__getitem__) == sorted(
        plan.ids, key=lambda t: priority_key(plan, t)
    )


def test_empty_plan_and_no_slot_count() -> None:
    empty = make_plan({})
    assert choose_rank(empty, instances=2, caps={}) == {}
    plan = blocking_plan()
    assert with_chosen_rank(plan, instances=None) is plan
    assert with_chosen_rank(plan, instances=2).rank == choose_rank(plan, instances=2, caps={})


def test_candidates_start_with_the_default_order_and_respect_most() -> None:
    plan = blocking_plan()
    orders = candidate_orders(plan, instances=2, caps={})
    assert orders[0] == sorted(plan.ids, key=lambda t: priority_key(plan, t))
    assert len({tuple(o) for o in orders}) == len(orders)
    assert candidate_orders(plan, instances=2, caps={}, most=1) == orders[:1]


def test_build_plan_chooses_a_rank_only_when_given_the_slots() -> None:
    config = Config(agents={"coder": AgentConfig(command=["true"])}, footprint="declared")
    specs = [
        TaskSpec(
            id=t,
            agent="coder",
            body="x\n",
            source=f"specs/{t}.md",
            order=i,
            depends_on=tuple(d),
            files=tuple(f),
            estimate=e,
        )
        for i, (t, d, f, e) in enumerate(
            [
                ("a", [], ["x.py"], 5.0),
                ("b", [], ["x.py", "y.py"], 1.0),
                ("c", ["b"], ["z.py"], 5.0),
                ("d", ["a"], ["y.py", "z.py"], 1.0),
            ]
        )
    ]
    repo = RepoPaths.from_files(["x.py", "y.py", "z.py"])
    assert build_plan(specs, config, repo).rank == {}
    plan = build_plan(specs, config, repo, instances=2, caps={"coder": 2})
    assert plan.rank["b"] < plan.rank["a"]
    assert simulate(plan, instances=2, caps={}).makespan == 7.0


# ------------------------------------------------------------- random plans
@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Plan, int, dict[str, int]]:
    n = draw(st.integers(1, 9))
    ids = [f"t{i}" for i in range(n)]
    deps = {
        t: sorted(set(draw(st.lists(st.sampled_from(ids[:i]), max_size=2)))) if i else []
        for i, t in enumerate(ids)
    }
    paths = st.lists(st.sampled_from(["a.py", "b.py", "c.py"]), max_size=2)
    plan = make_plan(
        deps,
        weights={t: float(draw(st.integers(0, 9))) for t in ids},
        files={t: draw(paths) for t in ids},
        agents={t: draw(st.sampled_from(["coder", "reviewer"])) for t in ids},
        priority={t: draw(st.integers(0, 1)) for t in ids},
    )
    caps = draw(st.dictionaries(st.sampled_from(["coder", "reviewer"]), st.integers(1, 2)))
    return plan, draw(st.integers(1, 3)), caps


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_never_worse_than_the_rules_on_the_estimates(
    scenario: tuple[Plan, int, dict[str, int]],
) -> None:
    plan, instances, caps = scenario
    rank = choose_rank(plan, instances=instances, caps=caps, budget=2_000)
    assert sorted(rank) == sorted(plan.ids)
    assert sorted(rank.values()) == list(range(len(plan.ids)))
    chosen = makespan(plan, rank, instances, **caps)
    assert chosen <= simulate(plan, instances=instances, caps=caps).makespan
    for order in candidate_orders(plan, instances=instances, caps=caps):
        rule = makespan(plan, {t: i for i, t in enumerate(order)}, instances, **caps)
        if any(t.spec.priority for t in plan.tasks):
            continue  # a rule ignoring priorities may be faster than any order that keeps them
        assert chosen <= rule
    levels = [plan.task(t).spec.priority for t in sorted(rank, key=rank.__getitem__)]
    assert levels == sorted(levels, reverse=True)
    assert choose_rank(plan, instances=instances, caps=caps, budget=2_000) == rank
