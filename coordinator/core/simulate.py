"""The simulated schedule ``plan`` prints: the real ``Scheduler`` driven by estimated durations.

Simulating with the very policy that ``run`` uses (rather than a look-alike) means the preview
cannot drift from reality except where reality differs from the estimates: agents finishing
early or late, failures, merge conflicts. Merges are taken as instant.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from coordinator.core.gcpause import batch
from coordinator.core.graph import remaining_path
from coordinator.core.plan import Plan
from coordinator.core.policy import Scheduler, shared_claims


@dataclass(frozen=True)
class ScheduleEntry:
    """One task in the simulated timeline; ``slot`` is the global slot index it occupied."""

    id: str
    start: float
    end: float
    slot: int


@dataclass(frozen=True)
class Schedule:
    """The simulated timeline (entries in start order) and its summary figures."""

    entries: tuple[ScheduleEntry, ...]
    makespan: float
    sequential: float
    lower_bound: float

    @property
    def speedup(self) -> float:
        """Sequential time over makespan; 1.0 for an empty or zero-length schedule."""
        return self.sequential / self.makespan if self.makespan > 0 else 1.0


class Adjuster(Protocol):
    """Something that may re-rank the scheduler as durations come in (``core.replan``)."""

    def finished(self, task_id: str, seconds: float) -> None: ...

    def update(self, scheduler: Scheduler, running: Mapping[str, float]) -> bool: ...


@batch
def simulate(
    plan: Plan,
    *,
    instances: int,
    caps: Mapping[str, int],
    durations: Mapping[str, float] | None = None,
    adjuster: Adjuster | None = None,
) -> Schedule:
    """Run the plan on a virtual clock: every agent succeeds and merges the moment it ends.

    Event-driven with a heap of finish times, so the cost is O(n log n) plus the scheduler's own
    work, whatever the durations. All finishes at one instant are applied before anything new
    starts, so equal estimates cannot make the result depend on heap internals; ties between
    finishes break by slot, which keeps the whole simulation deterministic. ``adjuster`` (a
    ``coordinator.core.replan.Replanner``) is told of every finish and may re-rank the
    scheduler before each round of starts, as the engine does in a run.
    """
    length = task_durations(plan, durations)
    entries = tuple(
        ScheduleEntry(task_id, start, end, slot)
        for task_id, start, end, slot in _timeline(plan, instances, caps, length, adjuster)
    )
    return Schedule(
        entries=entries,
        makespan=max((e.end for e in entries), default=0.0),
        sequential=math.fsum(length.values()),
        lower_bound=_bounds(plan, instances, caps, length)[1],
    )


def finish_times(
    plan: Plan,
    *,
    instances: int,
    caps: Mapping[str, int],
    durations: Mapping[str, float] | None = None,
    adjuster: Adjuster | None = None,
) -> tuple[float, float]:
    """The makespan and the sum of all finish times of the simulated run, and nothing else.

    The same timeline as ``simulate`` without the entries and the lower bound, for callers that
    compare many ranks of one plan (``coordinator.core.ordering``): the sum of finish times
    tells apart orders whose makespans tie, the one that gets work done earlier being the safer
    bet when real durations differ from the estimates.
    """
    ends = end_times(plan, instances=instances, caps=caps, durations=durations, adjuster=adjuster)
    return max(ends.values(), default=0.0), math.fsum(ends.values())


@batch
def end_times(
    plan: Plan,
    *,
    instances: int,
    caps: Mapping[str, int],
    durations: Mapping[str, float] | None = None,
    adjuster: Adjuster | None = None,
) -> dict[str, float]:
    """When each task ends in the simulated run (the timeline without slots and entries)."""
    length = task_durations(plan, durations)
    rows = _timeline(plan, instances, caps, length, adjuster)
    return {task_id: end for task_id, _, end, _ in rows}


def _timeline(
    plan: Plan,
    instances: int,
    caps: Mapping[str, int],
    length: Mapping[str, float],
    adjuster: Adjuster | None = None,
) -> list[tuple[str, float, float, int]]:
    """(task, start, end, slot) in start order: the one event loop behind every simulation."""
    scheduler = Scheduler(plan, instances=instances, caps=caps)
    free_slots = list(range(instances))
    finishing: list[tuple[float, int, str]] = []
    rows: list[tuple[str, float, float, int]] = []
    started: dict[str, float] = {}
    now = 0.0
    while True:
        if adjuster is not None:
            adjuster.update(scheduler, {t: now - at for t, at in started.items()})
        for task_id in scheduler.next_starts():
            slot = heapq.heappop(free_slots)
            end = now + length[task_id]
            rows.append((task_id, now, end, slot))
            heapq.heappush(finishing, (end, slot, task_id))
            if adjuster is not None:
                started[task_id] = now
        if not finishing:
            break
        now = finishing[0][0]
        while finishing and finishing[0][0] == now:
            _, slot, task_id = heapq.heappop(finishing)
            scheduler.agent_finished(task_id, ok=True)
            scheduler.merged(task_id)
            heapq.heappush(free_slots, slot)
            if adjuster is not None:
                adjuster.finished(task_id, length[task_id])
                del started[task_id]
    if not scheduler.done():
        raise RuntimeError("simulation stalled with tasks left: the scheduler deadlocked")
    return rows


def task_durations(plan: Plan, durations: Mapping[str, float] | None = None) -> dict[str, float]:
    """Each task's simulated duration: ``durations`` where given, else ``plan.weights``."""
    given = durations or {}
    result = {}
    for task_id in plan.ids:
        value = given.get(task_id, plan.weights.get(task_id))
        if value is None or not value >= 0 or math.isinf(value):
            raise ValueError(f"task {task_id!r} needs a finite duration >= 0, not {value!r}")
        result[task_id] = float(value)
    return result


def simple_lower_bound(
    plan: Plan,
    instances: int,
    caps: Mapping[str, int],
    durations: Mapping[str, float] | None = None,
) -> float:
    """The textbook bound: the largest of a few separate totals, each a valid bound on its own.

    - the critical path: a dependent starts only after its dependency ended (and merged);
    - exclusive work plus the rest spread over all slots: an exclusive task runs alone;
    - each agent type's work spread over its cap;
    - each shared file's work (``file_groups``): tasks touching one file never overlap in time.
    """
    return _bounds(plan, instances, caps, task_durations(plan, durations))[0]


def lower_bound(
    plan: Plan,
    instances: int,
    caps: Mapping[str, int],
    durations: Mapping[str, float] | None = None,
) -> float:
    """A makespan no schedule of this plan can beat: ``simple_lower_bound`` tightened by windows.

    The totals of ``simple_lower_bound`` ignore *when* work can happen. A fan-out of seven
    5-minute tasks between a 10-minute root and a 10-minute join, on 3 slots, has a critical
    path of 25 and total work 55/3, yet no schedule beats 10 + 35/3 + 10: the fan cannot start
    before the root ends, and the join needs the whole fan. ``_window_bound`` generalises that
    argument to every group of tasks that share a capacity: all tasks (the slots), each capped
    agent type (its cap) and each shared file (capacity one). Footprint overlaps other than
    identical claims are left out: the best bound from them needs a maximum clique, and a weak
    heuristic one would add code without adding truth.
    """
    return _bounds(plan, instances, caps, task_durations(plan, durations))[1]


def _bounds(
    plan: Plan, instances: int, caps: Mapping[str, int], length: Mapping[str, float]
) -> tuple[float, float]:
    """(simple, tight) lower bounds, sharing the paths and file groups both need."""
    if not length:
        return 0.0, 0.0
    remaining = remaining_path(plan.ids, plan.deps, length, users=plan.dependents)
    groups = file_groups(plan)
    exclusive = {t.id for t in plan.tasks if t.footprint.exclusive}
    exclusive_work = math.fsum(length[t] for t in exclusive)
    shared = math.fsum(length.values()) - exclusive_work
    per_agent: dict[str, list[str]] = defaultdict(list)
    for task in plan.tasks:
        per_agent[task.agent].append(task.id)
    cap = {agent: min(caps.get(agent, instances), instances) for agent in per_agent}
    chain = max(remaining.values())
    per_type = max(math.fsum(length[t] for t in ids) / cap[a] for a, ids in per_agent.items())
    per_file = max((math.fsum(length[t] for t in group) for group in groups), default=0.0)
    simple = max(chain, exclusive_work + shared / instances, per_type, per_file)
    head = _heads(plan, length)
    tail = {t: remaining[t] - length[t] for t in plan.ids}
    # An exclusive task holds every slot while it runs, so it weighs ``instances`` times its
    # length against the slots' capacity.
    everything = [
        (head[t], tail[t], length[t] * (instances if t in exclusive else 1)) for t in plan.ids
    ]
    tight = max(simple, _window_bound(everything, instances, _MOST_THRESHOLDS))
    for agent, ids in per_agent.items():
        if cap[agent] < instances:
            items = [(head[t], tail[t], length[t]) for t in ids]
            tight = max(tight, _window_bound(items, cap[agent], _MOST_THRESHOLDS))
    for group in groups:
        items = [(head[t], tail[t], length[t]) for t in group]
        # No window of the group beats its longest path through a member plus all its work.
        if max(h + q for h, q, _ in items) + math.fsum(w for _, _, w in items) > tight:
            tight = max(tight, _window_bound(items, 1, _MOST_FILE_THRESHOLDS))
    return simple, tight


# Thresholds tried per axis by ``_window_bound``: the bound is exact up to this many distinct
# values and coarser (still valid) beyond, which keeps it near-linear for 50,000 tasks.
_MOST_THRESHOLDS = 64
_MOST_FILE_THRESHOLDS = 16


def _heads(plan: Plan, length: Mapping[str, float]) -> dict[str, float]:
    """Earliest possible start of each task: its longest chain of dependencies' durations.

    ``plan.ids`` is topological, so every dependency's head is known when a task's is computed.
    """
    head: dict[str, float] = {}
    for task_id in plan.ids:
        head[task_id] = max(
            (head[d] + length[d] for d in plan.deps.get(task_id, ()) if d in head), default=0.0
        )
    return head


def _window_bound(items: Sequence[tuple[float, float, float]], capacity: int, most: int) -> float:
    """The best "head + work / capacity + tail" bound over windows of a group of tasks.

    ``items`` are (head, tail, work) of tasks sharing ``capacity``. For thresholds h and q, every
    task with head >= h and tail >= q runs inside [h, makespan - q], at most ``capacity`` at a
    time, so makespan >= h + q + W(h, q) / capacity whenever that set is non-empty. Heads are
    swept downwards, adding tasks into buckets by tail; suffix sums over the buckets give
    W(h, q) for every q at once: O(n log n + most**2). With more than ``most`` distinct values
    on an axis only evenly spread ones are tried, which loosens the bound but never breaks it.
    """
    if not items:
        return 0.0
    heads = _spread(sorted({h for h, _, _ in items}, reverse=True), most)
    tails = _spread(sorted({q for _, q, _ in items}), most)
    by_head = sorted(items, key=lambda item: -item[0])
    work = [0.0] * len(tails)
    count = [0] * len(tails)
    best = 0.0
    taken = 0
    for h in heads:
        while taken < len(by_head) and by_head[taken][0] >= h:
            _, q, w = by_head[taken]
            bucket = bisect.bisect_right(tails, q) - 1  # tails[0] is the smallest tail
            work[bucket] += w
            count[bucket] += 1
            taken += 1
        total = 0.0
        members = 0
        for bucket in range(len(tails) - 1, -1, -1):
            total += work[bucket]
            members += count[bucket]
            if members:
                value = h + tails[bucket] + total / capacity
                best = max(best, value)
    return best


def _spread(values: list[float], most: int) -> list[float]:
    """At most ``most`` of the sorted ``values``, evenly spread, always keeping both ends."""
    if len(values) <= most:
        return values
    last = len(values) - 1
    picks = sorted({round(i * last / (most - 1)) for i in range(most)})
    return [values[i] for i in picks]


def file_groups(plan: Plan) -> list[tuple[str, ...]]:
    """Groups of tasks that own one claim and so can never run at the same time.

    Straight from the shared claims the scheduler obeys (``coordinator.core.claims``): the
    owners of one key overlap each other by definition, so the bound they feed is never wrong.
    A hand-built plan's plain overlap mapping has no such groups. Exclusive tasks own no claim:
    ``lower_bound`` counts them against every slot already.
    """
    return shared_claims(plan).groups()
