"""The DAG helpers: stable order, the problems users see, critical path and reachability."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.core.graph import (
    critical_path,
    dependents_of,
    reachability,
    remaining_path,
    topo_order,
)
from coordinator.errors import InputError


def _problems(ids: list[str], deps: dict[str, list[str]], **kw: object) -> list[str]:
    with pytest.raises(InputError) as caught:
        topo_order(ids, deps, **kw)  # type: ignore[arg-type]
    return [str(p) for p in caught.value.problems]


# ---------------------------------------------------------------- topo_order
def test_valid_order_is_kept_unchanged() -> None:
    ids = ["a", "b", "c", "d"]
    assert topo_order(ids, {"b": ["a"], "d": ["c"]}) == ids


def test_ready_nodes_keep_input_order() -> None:
    # z depends on y; x, w are free; the heap must prefer earlier input positions.
    ids = ["z", "x", "y", "w"]
    assert topo_order(ids, {"z": ["y"]}) == ["x", "y", "z", "w"]


def test_dependency_pulls_later_node_forward_only_as_needed() -> None:
    ids = ["c", "b", "a"]
    assert topo_order(ids, {"c": ["a"], "b": ["a"]}) == ["a", "c", "b"]


def test_empty_graph() -> None:
    assert topo_order([], {}) == []


def test_cycle_message_exact_and_starts_at_first_member() -> None:
    # b depends on a, c on b, a on c: in "runs before" direction a -> b -> c -> a.
    problems = _problems(["a", "b", "c"], {"a": ["c"], "b": ["a"], "c": ["b"]})
    assert problems == [
        "depends_on: cycle: a -> b -> c -> a (remove one of these depends_on entries)"
    ]


def test_cycle_starts_at_smallest_input_index_not_alphabetical() -> None:
    problems = _problems(["m", "b", "z"], {"b": ["m"], "z": ["b"], "m": ["z"]})
    assert any("cycle: m -> b -> z -> m" in p for p in problems)


def test_cycle_names_the_spec_file() -> None:
    with pytest.raises(InputError) as caught:
        topo_order(["a", "b"], {"a": ["b"], "b": ["a"]}, sources={"a": "specs/a.md"})
    [problem] = caught.value.problems
    assert problem.file == "specs/a.md"
    assert problem.message == "cycle: a -> b -> a"
    assert problem.field == "depends_on"


def test_cycle_is_shortest_one_through_first_member() -> None:
    # a -> b -> c -> d -> a, plus a shortcut c -> a. Shortest through a: a -> b -> c -> a.
    deps = {"b": ["a"], "c": ["b"], "d": ["c"], "a": ["d", "c"]}
    problems = _problems(["a", "b", "c", "d"], deps)
    assert len(problems) == 1
    assert "cycle: a -> b -> c -> a" in problems[0]


def test_two_separate_cycles_are_both_reported_and_downstream_nodes_are_not() -> None:
    deps = {"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"], "e": ["a"]}
    problems = _problems(["a", "b", "c", "d", "e"], deps)
    assert len(problems) == 2
    assert "cycle: a -> b -> a" in problems[0]
    assert "cycle: c -> d -> c" in problems[1]


def test_unknown_dependency_suggests_close_id() -> None:
    with pytest.raises(InputError) as caught:
        topo_order(["parser", "lexer"], {"parser": ["lexr"]}, sources={"parser": "specs/p.md"})
    [problem] = caught.value.problems
    assert problem.file == "specs/p.md"
    assert problem.field == "depends_on"
    assert "'lexr'" in problem.message
    assert problem.fix == "did you mean 'lexer'?"


def test_unknown_dependency_without_close_match() -> None:
    [text] = _problems(["a"], {"a": ["zzzzzz"]})
    assert "unknown task 'zzzzzz'" in text
    assert "did you mean" not in text


def test_self_dependency() -> None:
    [text] = _problems(["a", "b"], {"a": ["a"]}, sources={"a": "specs/a.md"})
    assert text.startswith("specs/a.md: depends_on: task 'a' depends on itself")


def test_all_problems_reported_together() -> None:
    deps = {"a": ["a", "nope"], "b": ["c"], "c": ["b"]}
    problems = _problems(["a", "b", "c"], deps)
    assert len(problems) == 3
    assert any("itself" in p for p in problems)
    assert any("'nope'" in p for p in problems)
    assert any("cycle: b -> c -> b" in p for p in problems)


def test_duplicate_id_is_a_problem() -> None:
    [text] = _problems(["a", "a"], {})
    assert "duplicate task id 'a'" in text


def test_repeated_dependency_is_harmless() -> None:
    assert topo_order(["a", "b"], {"b": ["a", "a"]}) == ["a", "b"]


@given(st.data())
def test_random_dag_order_respects_deps_and_is_stable(data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 25))
    ids = [f"t{i}" for i in range(n)]
    deps = {
        ids[i]: data.draw(st.lists(st.sampled_from(ids[:i]), max_size=3)) if i else []
        for i in range(n)
    }
    shuffled = data.draw(st.permutations(ids))
    order = topo_order(shuffled, deps)
    assert sorted(order) == sorted(ids)
    position = {t: i for i, t in enumerate(order)}
    assert all(position[d] < position[t] for t in ids for d in deps[t])
    assert order == _naive_stable_order(shuffled, deps)


def _naive_stable_order(ids: list[str], deps: dict[str, list[str]]) -> list[str]:
    """The definition of stability: repeatedly take the first input node whose deps are placed."""
    placed: list[str] = []
    left = list(ids)
    while left:
        node = next(t for t in left if all(d in placed for d in deps[t]))
        placed.append(node)
        left.remove(node)
    return placed


# ----------------------------------------------------------- dependents_of
def test_dependents_in_input_order() -> None:
    deps = {"c": ["a"], "b": ["a"], "d": ["b", "b"]}
    assert dependents_of(["a", "b", "c", "d"], deps) == {
        "a": ("b", "c"),
        "b": ("d",),
        "c": (),
        "d": (),
    }


# ----------------------------------------------------------- critical path
def test_critical_path_by_weight() -> None:
    order = ["a", "b", "c", "d"]
    deps = {"b": ["a"], "c": ["a"], "d": ["b", "c"]}
    weights = {"a": 1.0, "b": 1.0, "c": 5.0, "d": 2.0}
    assert critical_path(order, deps, weights) == (["a", "c", "d"], 8.0)
    assert remaining_path(order, deps, weights) == {"a": 8.0, "b": 3.0, "c": 7.0, "d": 2.0}


def test_critical_path_by_count_with_equal_weights() -> None:
    order = ["x", "a", "b", "c", "y"]
    deps = {"b": ["a"], "c": ["b"], "y": ["x"]}
    weights = dict.fromkeys(order, 1.0)
    assert critical_path(order, deps, weights) == (["a", "b", "c"], 3.0)


def test_critical_path_tie_goes_to_earlier_task() -> None:
    order = ["a", "b"]
    assert critical_path(order, {}, {"a": 2.0, "b": 2.0}) == (["a"], 2.0)


def test_critical_path_of_nothing() -> None:
    assert critical_path([], {}, {}) == ([], 0.0)


# ------------------------------------------------------------ reachability
def test_reachability_both_directions_and_transitive() -> None:
    order = ["a", "b", "c", "d"]
    reach = reachability(order, {"b": ["a"], "c": ["b"]})
    assert reach.has_path("a", "c") and reach.has_path("c", "a")
    assert reach.reaches("a", "c") and not reach.reaches("c", "a")
    assert not reach.has_path("a", "d")
    assert not reach.has_path("a", "a")


@given(st.data())
def test_reachability_matches_naive_search(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 15))
    ids = [f"t{i}" for i in range(n)]
    deps = {
        ids[i]: data.draw(st.lists(st.sampled_from(ids[:i]), max_size=3)) if i else []
        for i in range(n)
    }
    reach = reachability(ids, deps)

    def ancestors(t: str) -> set[str]:
        found: set[str] = set()
        stack = list(deps[t])
        while stack:
            d = stack.pop()
            if d not in found:
                found.add(d)
                stack.extend(deps[d])
        return found

    for b in ids:
        anc = ancestors(b)
        for a in ids:
            assert reach.reaches(a, b) == (a in anc)


def test_large_graph_is_fast_enough() -> None:
    """A generous smoke bound; the real figure is a few hundredths of a second."""
    rng = random.Random(7)
    n = 10_000
    ids = [f"t{i}" for i in range(n)]
    deps: dict[str, list[str]] = {t: [] for t in ids}
    for _ in range(20_000):
        j = rng.randrange(1, n)
        deps[ids[j]].append(ids[rng.randrange(j)])
    shuffled = ids[:]
    rng.shuffle(shuffled)
    started = time.perf_counter()
    order = topo_order(shuffled, deps)
    weights = {t: float(rng.randint(1, 9)) for t in ids}
    dependents_of(order, deps)
    remaining_path(order, deps, weights)
    critical_path(order, deps, weights)
    reach = reachability(order, deps)
    assert reach.reaches(ids[0], ids[0]) is False
    assert time.perf_counter() - started < 15.0  # generous bound; see scripts/bench plan
