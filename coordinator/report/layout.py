"""Where things go on the report's page: timeline lanes and DAG positions, in O(n log n).

Pure functions (no I/O, no clock). A report must stay usable at thousands of tasks, so nothing
here compares every task with every other: lanes come from a sweep with two heaps, DAG columns
from one topological pass, and the order inside a column from a few barycentre sweeps that each
touch every edge once.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# A column of the DAG holds at most this many nodes; a wider layer wraps into several columns,
# so that a fan-out of 1,000 tasks fills a block of the page instead of one endless column.
MAX_COLUMN_ROWS = 36
_SWEEPS = 3  # forward, backward, forward: enough to untangle what a report shows


def assign_lanes(spans: Sequence[tuple[float, float]]) -> tuple[list[int], int]:
    """A lane for each (start, end) span such that spans in one lane never overlap.

    The lowest free lane is always taken, so lane numbers read like the coordinator's slots;
    the result uses as few lanes as the most spans that overlap at one instant (the greedy
    interval partitioning, optimal for intervals). Returns the lanes and their count.
    """
    order = sorted(range(len(spans)), key=lambda i: (spans[i][0], spans[i][1], i))
    busy: list[tuple[float, int]] = []  # (end, lane) of spans still running
    free: list[int] = []
    lanes = [0] * len(spans)
    count = 0
    for i in order:
        start, end = spans[i]
        while busy and busy[0][0] <= start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            lane = heapq.heappop(free)
        else:
            lane = count
            count += 1
        lanes[i] = lane
        heapq.heappush(busy, (max(start, end), lane))
    return lanes, count


@dataclass(frozen=True)
class DagLayout:
    """Grid positions of the DAG's nodes: ``column[i]``/``row[i]`` for the i-th id given."""

    column: list[int]
    row: list[float]
    depth: list[int]
    columns: int
    rows: int


def depths(ids: Sequence[str], deps: Mapping[str, Sequence[str]]) -> list[int]:
    """Each node's depth: 0 for a node without dependencies, else one more than its deepest.

    Dependencies outside ``ids`` are ignored. Kahn's algorithm, so the order of ``ids`` need not
    be topological; nodes on a cycle (which a valid plan never has) get the depth reached so far.
    """
    index = {task_id: i for i, task_id in enumerate(ids)}
    preds = [[index[d] for d in deps.get(task_id, ()) if d in index] for task_id in ids]
    succs: list[list[int]] = [[] for _ in ids]
    missing = [len(p) for p in preds]
    for i, ps in enumerate(preds):
        for p in ps:
            succs[p].append(i)
    depth = [0] * len(ids)
    ready = [i for i, m in enumerate(missing) if m == 0]
    while ready:
        i = ready.pop()
        for s in succs[i]:
            depth[s] = max(depth[s], depth[i] + 1)
            missing[s] -= 1
            if missing[s] == 0:
                ready.append(s)
    return depth


def dag_layout(ids: Sequence[str], deps: Mapping[str, Sequence[str]]) -> DagLayout:
    """Left to right by depth; inside a depth, nodes near the average row of their neighbours.

    A node goes level with the mean row of its dependencies when that place is free, so chains
    run straight; layers wider than ``MAX_COLUMN_ROWS`` wrap into a block of columns.
    """
    n = len(ids)
    depth = depths(ids, deps)
    index = {task_id: i for i, task_id in enumerate(ids)}
    preds = [[index[d] for d in deps.get(task_id, ()) if d in index] for task_id in ids]
    succs: list[list[int]] = [[] for _ in ids]
    for i, ps in enumerate(preds):
        for p in ps:
            succs[p].append(i)
    layers: list[list[int]] = [[] for _ in range(max(depth, default=-1) + 1)]
    for i in range(n):
        layers[depth[i]].append(i)
    _order_layers(layers, preds, succs)
    column = [0] * n
    row = [0.0] * n
    first_column = 0
    for layer in layers:
        if len(layer) > MAX_COLUMN_ROWS:  # a block of columns, filled top to bottom
            for k, i in enumerate(layer):
                column[i] = first_column + k // MAX_COLUMN_ROWS
                row[i] = float(k % MAX_COLUMN_ROWS)
            first_column += math.ceil(len(layer) / MAX_COLUMN_ROWS)
            continue
        floor = 0.0  # in layer order, each node at its dependencies' mean row, or just below
        for i in layer:
            near = preds[i]
            wanted = math.fsum(row[j] for j in near) / len(near) if near else floor
            row[i] = max(wanted, floor)
            column[i] = first_column
            floor = row[i] + 1
        first_column += 1
    rows = math.ceil(max(row, default=-1.0) + 1)
    return DagLayout(column, row, depth, first_column, rows)


def _order_layers(layers: list[list[int]], preds: list[list[int]], succs: list[list[int]]) -> None:
    """Barycentre sweeps: sort each layer by the mean position of its neighbours in the layer
    before it (forward) or after it (backward); ties keep the previous order. Each sweep
    touches every edge once, which straightens chains and keeps fan-outs together."""
    position = [0.0] * len(preds)
    for layer in layers:
        for k, i in enumerate(layer):
            position[i] = float(k)
    for sweep in range(_SWEEPS):
        forward = sweep % 2 == 0
        neighbours = preds if forward else succs
        for layer in layers[1:] if forward else list(reversed(layers[:-1])):
            keyed = []
            for k, i in enumerate(layer):
                near = neighbours[i]
                centre = math.fsum(position[j] for j in near) / len(near) if near else position[i]
                keyed.append((centre, k, i))
            keyed.sort()
            layer[:] = [i for _, _, i in keyed]
            for k, i in enumerate(layer):
                position[i] = float(k)
