"""The real timeline of a run: one bar per attempt, split into phases, each in a lane.

Pure: it reads the records the store keeps (duck-typed, so tests can build them by hand) and
returns plain values. Times are seconds from the run's start.

Where the phases come from: the agent's own span is the attempt (``attempts`` table); the
coordinator's work around it (worktree, commit, gate, merge) is a ``phase`` event per span,
written by the recorder. Runs recorded before phase events existed still get their merge and
commit drawn, from the durations of the ``timing`` event placed against the attempt's ends.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from coordinator.report.layout import assign_lanes

# The coordinator's phases as the report names them; "start" (spawning the agent) is drawn
# as part of the agent's own bar, "store" (its own bookkeeping) is not drawn at all.
PHASE_NAMES = {"worktree": "worktree", "commit": "collect", "gate": "gate", "verify": "gate",
               "merge": "merge"}  # fmt: skip
PHASE_ORDER = ("worktree", "agent", "collect", "gate", "merge")


class AttemptLike(Protocol):
    """What the timeline reads of an attempt (``coordinator.io.store.AttemptRecord``)."""

    @property
    def task_id(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def started_at(self) -> float | None: ...
    @property
    def finished_at(self) -> float | None: ...
    @property
    def outcome(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...


class TaskLike(Protocol):
    """What the timeline reads of a task (``coordinator.io.store.TaskRecord``)."""

    @property
    def task_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def started_at(self) -> float | None: ...
    @property
    def finished_at(self) -> float | None: ...
    @property
    def merged_at(self) -> float | None: ...
    @property
    def reason(self) -> str | None: ...


class EventLike(Protocol):
    """What the timeline reads of an event (``coordinator.io.store.EventRecord``)."""

    @property
    def task_id(self) -> str | None: ...
    @property
    def at(self) -> float: ...
    @property
    def kind(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...


@dataclass
class Bar:
    """One attempt of one task on the timeline."""

    task: str
    attempt: int
    start: float
    end: float
    outcome: str
    reason: str = ""
    phases: list[tuple[str, float, float]] = field(default_factory=list)
    lane: int = 0
    slot: int | None = None
    tail_lane: int = -1  # lane among the coordinator's own work after the agent (-1: none)

    @property
    def slot_end(self) -> float:
        """When the attempt gave its slot back: its agent ended (collecting and merging are
        the coordinator's own work, done while the next task may already use the slot)."""
        return max((end for name, _, end in self.phases if name == "agent"), default=self.end)

    @property
    def tail(self) -> tuple[float, float] | None:
        """The span of the coordinator's work after the agent (collect, gate, merge), if any."""
        after = [(s, e) for name, s, e in self.phases if name not in ("worktree", "agent")]
        if not after:
            return None
        return min(s for s, _ in after), max(e for _, e in after)

    @property
    def agent_seconds(self) -> float:
        return sum(end - start for name, start, end in self.phases if name == "agent")


def final_outcome(state: str, reason: str | None) -> str:
    """The colour of a task's last bar: its state, with ``tampered`` told apart from failed."""
    if state == "failed" and (reason or "").startswith("tampered"):
        return "tampered"
    if state in ("pending", "running"):
        return "running"
    return state


def build_bars(
    tasks: Sequence[TaskLike],
    attempts: Iterable[AttemptLike],
    events: Iterable[EventLike],
    *,
    origin: float,
    now: float,
) -> tuple[list[Bar], int]:
    """Every attempt as a bar with its phases, and the number of lanes they need.

    A lane is a slot: attempts share one when the first gave its slot back (its agent ended)
    before the next began. The store's slot of each attempt is used when it records one.
    """
    by_task: dict[str, list[AttemptLike]] = defaultdict(list)
    for attempt in attempts:
        by_task[attempt.task_id].append(attempt)
    spans: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    timing: dict[str, dict[str, float]] = {}
    for event in events:
        if event.task_id is None:
            continue
        if event.kind == "phase":
            name = PHASE_NAMES.get(str(event.data.get("phase")))
            start, end = event.data.get("start"), event.data.get("end")
            if name and isinstance(start, int | float) and isinstance(end, int | float):
                spans[event.task_id].append((name, float(start), float(end)))
        elif event.kind == "timing":
            phases = event.data.get("phases_ms")
            if isinstance(phases, Mapping):
                timing[event.task_id] = {str(k): float(v) / 1000 for k, v in phases.items()}
    bars: list[Bar] = []
    for task in tasks:
        tries = sorted(by_task.get(task.task_id, []), key=lambda a: a.attempt)
        bars.extend(
            _task_bars(task, tries, spans.get(task.task_id, []), timing.get(task.task_id), now)
        )
    for bar in bars:
        bar.start -= origin
        bar.end -= origin
        bar.phases = [(name, s - origin, e - origin) for name, s, e in bar.phases]
    if bars and all(bar.slot is not None for bar in bars):
        for bar in bars:
            bar.lane = bar.slot or 0
        return bars, max(bar.lane for bar in bars) + 1
    lanes, count = assign_lanes([(bar.start, bar.slot_end) for bar in bars])
    for bar, lane in zip(bars, lanes, strict=True):
        bar.lane = lane
    return bars, count


def _task_bars(
    task: TaskLike,
    tries: list[AttemptLike],
    spans: list[tuple[str, float, float]],
    timing: Mapping[str, float] | None,
    now: float,
) -> list[Bar]:
    if not tries and task.started_at is None:
        return []  # never started: skipped or cancelled before its turn
    starts = [a.started_at if a.started_at is not None else now for a in tries]
    bars: list[Bar] = []
    for k, attempt in enumerate(tries):
        end = attempt.finished_at if attempt.finished_at is not None else now
        bar = Bar(task.task_id, attempt.attempt, starts[k], end, "", attempt.reason or "")
        bar.phases.append(("agent", starts[k], end))
        bar.slot = getattr(attempt, "slot", None)
        last = k == len(tries) - 1
        if last:
            bar.outcome = final_outcome(task.state, task.reason)
            bar.reason = task.reason or bar.reason
        else:  # an earlier try that was run again: after a merge conflict, or a failure
            bar.outcome = "failed" if attempt.outcome == "failed" else "conflict"
        bars.append(bar)
    if not bars:  # adopted from a dead run: the task record is all there is
        end = task.finished_at if task.finished_at is not None else task.started_at or now
        start = task.started_at if task.started_at is not None else now
        outcome = final_outcome(task.state, task.reason)
        bars.append(Bar(task.task_id, max(1, task.attempt), start, end, outcome, task.reason or ""))
        starts = [start]
    if spans:
        for name, start, end in spans:
            if name == "worktree":  # made before its attempt began
                k = min(bisect.bisect_left(starts, start), len(bars) - 1)
            else:
                k = max(bisect.bisect_right(starts, start) - 1, 0)
            bars[k].phases.append((name, start, end))
    elif timing and task.state == "merged" and task.merged_at is not None:
        _phases_from_timing(bars[-1], timing, task.merged_at)
    if task.merged_at is not None:
        bars[-1].end = max(bars[-1].end, task.merged_at)
    for bar in bars:
        bar.phases.sort(key=lambda p: (p[1], PHASE_ORDER.index(p[0])))
        bar.start = min([bar.start, *(s for _, s, _ in bar.phases)])
        bar.end = max([bar.end, *(e for _, _, e in bar.phases)])
    return bars


def _phases_from_timing(bar: Bar, timing: Mapping[str, float], merged_at: float) -> None:
    """Phases of a run recorded before phase events: durations placed against known ends."""
    agent_start, agent_end = bar.phases[0][1], bar.phases[0][2]
    if timing.get("worktree"):
        bar.phases.append(("worktree", agent_start - timing["worktree"], agent_start))
    if timing.get("commit"):
        bar.phases.append(("collect", agent_end, agent_end + timing["commit"]))
    if timing.get("merge"):
        bar.phases.append(("merge", merged_at - timing["merge"], merged_at))


def merge_lanes(bars: Sequence[Bar]) -> int:
    """Lanes for what the coordinator does after each agent (collect, gate, merge).

    That work is the coordinator's, not the slot's: the next task may already use the slot
    while it goes on. Drawn in its own lanes it never hides the next bar; the coordinator does
    it one task at a time, so one lane is the rule. Sets ``tail_lane`` and returns the count.
    """
    tailed = [(bar, bar.tail) for bar in bars]
    spans = [(bar, tail) for bar, tail in tailed if tail is not None]
    lanes, count = assign_lanes([tail for _, tail in spans])
    for (bar, _), lane in zip(spans, lanes, strict=True):
        bar.tail_lane = lane
    return count
