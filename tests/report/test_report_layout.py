"""Timeline lanes and DAG positions: correct, compact, and linear enough for 10,000 tasks."""

from __future__ import annotations

import itertools
import random
import time

from hypothesis import given
from hypothesis import strategies as st

from coordinator.report.layout import MAX_COLUMN_ROWS, assign_lanes, dag_layout, depths


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    points = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    best = now = 0
    for _, delta in points:
        now += delta
        best = max(best, now)
    return best


spans_strategy = st.lists(
    st.tuples(st.integers(0, 50), st.integers(1, 20)).map(
        lambda t: (float(t[0]), float(t[0] + t[1]))
    ),
    max_size=60,
)


@given(spans_strategy)
def test_lanes_never_overlap_and_are_as_few_as_the_busiest_instant(
    spans: list[tuple[float, float]],
) -> None:
    lanes, count = assign_lanes(spans)
    for lane in range(count):
        mine = sorted(s for s, k in zip(spans, lanes, strict=True) if k == lane)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(mine))
    assert count == _max_overlap(spans)
    assert set(lanes) == set(range(count))


def test_a_slot_given_back_is_taken_again_lowest_first() -> None:
    lanes, count = assign_lanes([(0, 5), (0, 3), (0, 9), (3, 4), (5, 8)])
    assert (lanes, count) == ([1, 0, 2, 0, 0], 3)


def test_depth_is_one_more_than_the_deepest_dependency_whatever_the_order() -> None:
    ids = ["d", "c", "b", "a", "lone"]
    deps = {"d": ["c", "a"], "c": ["b"], "b": ["a"], "ghost-dep": ["a"], "lone": ["missing"]}
    assert depths(ids, deps) == [3, 2, 1, 0, 0]


def test_dependencies_sit_in_earlier_columns_and_wide_layers_wrap() -> None:
    ids = ["root"] + [f"fan{i}" for i in range(100)] + ["join"]
    deps = {f"fan{i}": ["root"] for i in range(100)} | {"join": [f"fan{i}" for i in range(100)]}
    layout = dag_layout(ids, deps)
    col = dict(zip(ids, layout.column, strict=True))
    assert all(col[d] < col[t] for t, ds in deps.items() for d in ds)
    per_column: dict[int, int] = {}
    for c in layout.column:
        per_column[c] = per_column.get(c, 0) + 1
    assert max(per_column.values()) <= MAX_COLUMN_ROWS
    assert layout.columns == 1 + 3 + 1  # 100 fan tasks wrap into 3 columns of at most 36
    cells = set(zip(layout.column, layout.row, strict=True))
    assert len(cells) == len(ids)  # no two nodes in one place


def test_a_chain_is_drawn_straight() -> None:
    ids = ["a", "b", "c", "x", "y"]
    deps = {"b": ["a"], "c": ["b"], "y": ["x"]}
    layout = dag_layout(ids, deps)
    row = dict(zip(ids, layout.row, strict=True))
    assert row["a"] == row["b"] == row["c"]
    assert row["x"] == row["y"] != row["a"]


def test_layout_of_ten_thousand_tasks_is_fast() -> None:
    """Nothing compares every task with every other: 10,000 tasks lay out in a few seconds
    (a quadratic step would take minutes at this size)."""
    rng = random.Random(7)
    ids = [f"t{i}" for i in range(10_000)]
    deps = {t: [ids[rng.randrange(i)] for _ in range(2)] for i, t in enumerate(ids) if i}
    spans = [(rng.uniform(0, 1000), 0.0) for _ in range(10_000)]
    spans = [(s, s + rng.uniform(1, 30)) for s, _ in spans]
    started = time.perf_counter()
    layout = dag_layout(ids, deps)
    _, count = assign_lanes(spans)
    assert time.perf_counter() - started < 10
    assert len(layout.column) == 10_000 and count >= 1
