"""Conflict detection through ``build_plan``: against a brute-force check on random DAGs."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.core.claims import SharedClaims
from coordinator.core.config import AgentConfig, Config
from coordinator.core.conflicts import EXCLUSIVE_MARK
from coordinator.core.footprint import RepoPaths
from coordinator.core.graph import reachability, topo_order
from coordinator.core.models import TaskSpec
from coordinator.core.planner import build_plan

FILES = ["a.py", "b.py", "c.py", "d/e.py", "d/f.py"]
CONFIG = Config(agents={"coder": AgentConfig(command=["true"])}, footprint="declared")
REPO = RepoPaths.from_files(FILES)


def _spec(i: int, deps: list[int], files: list[str]) -> TaskSpec:
    return TaskSpec(
        id=f"t{i:02d}",
        agent="coder",
        body="x\n",
        source=f"specs/t{i:02d}.md",
        order=i,
        depends_on=tuple(f"t{d:02d}" for d in deps),
        files=tuple(files),
    )


@st.composite
def _batches(draw: st.DrawFn) -> list[TaskSpec]:
    n = draw(st.integers(1, 12))
    patterns = st.sampled_from([*FILES, "d/**", "*.py", "d/*.py"])
    specs = []
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=2, unique=True)) if i else []
        specs.append(_spec(i, deps, draw(st.lists(patterns, min_size=1, max_size=2))))
    # ids in a different order from the topological one, so the sorted output is not free
    return list(reversed(specs)) if draw(st.booleans()) else specs


@settings(max_examples=300, deadline=None)
@given(_batches())
def test_conflicts_are_exactly_the_unordered_overlapping_pairs(specs: list[TaskSpec]) -> None:
    plan = build_plan(specs, CONFIG, REPO)
    ids = [s.id for s in specs]
    deps = {s.id: s.depends_on for s in specs}
    reach = reachability(topo_order(ids, deps), deps)
    expected = [
        (a, b)
        for a, b in itertools.combinations(sorted(ids), 2)
        if b in plan.overlaps[a] and not reach.has_path(a, b)
    ]
    assert [(c.a, c.b) for c in plan.conflicts] == expected
    for c in plan.conflicts:
        assert c.paths, c


def test_shared_paths_are_named_and_ordered_pairs_are_not_conflicts() -> None:
    specs = [
        _spec(0, [], ["a.py", "d/e.py"]),
        _spec(1, [], ["d/**"]),
        _spec(2, [0], ["a.py"]),  # ordered after t00: no conflict with it
        _spec(3, [], ["c.py"]),
    ]
    plan = build_plan(specs, CONFIG, REPO)
    assert [(c.a, c.b, c.paths) for c in plan.conflicts] == [("t00", "t01", ("d/e.py",))]


def test_an_unknown_footprint_conflicts_with_every_unordered_task() -> None:
    config = Config(agents=CONFIG.agents, footprint="declared", unknown_footprint="exclusive")
    specs = [_spec(0, [], []), _spec(1, [], ["a.py"]), _spec(2, [0], ["b.py"])]
    plan = build_plan(specs, config, REPO)
    assert [(c.a, c.b, c.paths) for c in plan.conflicts] == [("t00", "t01", (EXCLUSIVE_MARK,))]


def test_conflicts_stream_count_and_prefixes_agree() -> None:
    files = ["a.py", "b.py"]
    specs = [_spec(i, [i - 1] if i % 4 == 3 else [], [files[i % 2]]) for i in range(12)]
    plan = build_plan(specs, CONFIG, REPO)
    listed = list(plan.conflicts)
    assert len(plan.conflicts) == len(listed) > 10
    assert plan.conflicts[:3] == tuple(listed[:3])
    assert plan.conflicts[2] == listed[2] and plan.conflicts[-1] == listed[-1]
    assert plan.conflicts[5:1:-1] == tuple(listed[5:1:-1])
    assert plan.conflicts == listed and bool(plan.conflicts)
    with pytest.raises(IndexError):
        plan.conflicts[len(listed)]
    lonely = build_plan([_spec(0, [], ["a.py"]), _spec(1, [], ["b.py"])], CONFIG, REPO)
    assert not lonely.conflicts and len(lonely.conflicts) == 0


@settings(max_examples=200, deadline=None)
@given(_batches(), st.sets(st.integers(0, 11), max_size=3))
def test_the_count_matches_the_pairs_with_exclusive_tasks(
    specs: list[TaskSpec], unknown: set[int]
) -> None:
    specs = [dataclasses.replace(s, files=()) if s.order in unknown else s for s in specs]
    config = Config(agents=CONFIG.agents, footprint="declared", unknown_footprint="exclusive")
    plan = build_plan(specs, config, REPO)
    ids = [s.id for s in specs]
    deps = {s.id: s.depends_on for s in specs}
    reach = reachability(topo_order(ids, deps), deps)
    exclusive = {s.id for s in specs if not s.files}
    expected = [
        (a, b)
        for a, b in itertools.combinations(sorted(ids), 2)
        if (b in plan.overlaps[a] or a in exclusive or b in exclusive) and not reach.has_path(a, b)
    ]
    assert [(c.a, c.b) for c in plan.conflicts] == expected
    assert len(plan.conflicts) == len(expected)
    overlapping = sum(1 for a, b in itertools.combinations(ids, 2) if b in plan.overlaps[a])
    assert isinstance(plan.overlaps, SharedClaims)
    assert plan.overlaps.pair_count() == overlapping
