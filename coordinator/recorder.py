"""What a run learns, written as it happens: the store, the display and the timings.

The engine decides; the recorder only writes down. Every task field goes to the store at once
(so ``status`` in another terminal sees it), every event goes to the store and the reporter, and
the coordinator's own time per task and phase is kept for ``scripts/bench``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coordinator.core.models import TaskState
from coordinator.core.plan import Plan
from coordinator.display import Reporter, RunEvent, RunSummary, TaskRow
from coordinator.errors import EXIT_OK, EXIT_UNMERGED
from coordinator.io.store import Store


@dataclass
class Outcome:
    """What the run learned about a task, for the store, the display and the summary."""

    state: TaskState = TaskState.PENDING
    attempt: int = 0
    reason: str = ""
    branch: str = ""
    worktree: str = ""
    log: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    merged_at: float | None = None
    merge_commit: str | None = None
    agent_time: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Recorder:
    """Outcomes per task plus the doors they are written through."""

    def __init__(self, plan: Plan, store: Store, reporter: Reporter, run_id: str) -> None:
        self.plan = plan
        self.store = store
        self.reporter = reporter
        self.run_id = run_id
        self.outcomes: dict[str, Outcome] = {t.id: Outcome() for t in plan.tasks}
        self.phases: dict[str, dict[str, float]] = {}
        self.notes: list[str] = []

    def __getitem__(self, task_id: str) -> Outcome:
        return self.outcomes[task_id]

    def emit(self, kind: str, task_id: str | None, message: str = "", **data: Any) -> None:
        now = time.time()
        with self.timed(task_id, "store"):
            self.store.add_event(
                self.run_id, kind, task_id=task_id, at=now, data={"message": message, **data}
            )
        self.reporter.event(RunEvent(kind, now, task_id, message, data))

    def note_marker_latency(self, task_id: str, path: Path) -> None:
        """Marker written (its mtime) to marker handled: the detection latency."""
        try:
            written = path.stat().st_mtime
        except OSError:
            return
        self.phases.setdefault(task_id, {})["detect"] = max(0.0, time.time() - written)

    def emit_timing(self, task_id: str) -> None:
        phases = {k: round(v * 1000, 3) for k, v in self.phases.get(task_id, {}).items()}
        self.emit("timing", task_id, "", phases_ms=phases)

    def record(self, task_id: str, **fields: Any) -> None:
        """Write task fields to the store as they change (``status`` reads them live)."""
        with self.timed(task_id, "store"):
            self.store.upsert_task(self.run_id, task_id, **fields)

    @contextmanager
    def timed(self, task_id: str | None, phase: str) -> Iterator[None]:
        """Accumulate the coordinator's own time per task and phase, for ``scripts/bench``.

        Every phase but the store's own writes is also kept in the store as a ``phase`` event
        (its wall-clock start and end), so the HTML report can draw where a task's time went.
        """
        start = time.perf_counter()
        began = time.time()
        try:
            yield
        finally:
            if task_id is not None:
                phases = self.phases.setdefault(task_id, {})
                phases[phase] = phases.get(phase, 0.0) + time.perf_counter() - start
                if phase != "store":
                    span = {"phase": phase, "start": began, "end": time.time()}
                    self.store.add_event(self.run_id, "phase", task_id=task_id, at=began, data=span)

    def refresh(self, waiting: dict[str, str]) -> None:
        rows = []
        for task in self.plan.tasks:
            outcome = self.outcomes[task.id]
            note = outcome.reason or waiting.get(task.id, "")
            if outcome.state == TaskState.RUNNING:
                note = ""
            rows.append(
                TaskRow(
                    task.id,
                    task.agent,
                    outcome.state.value,
                    outcome.attempt,
                    outcome.started_at,
                    outcome.finished_at,
                    outcome.worktree,
                    note,
                )
            )
        self.reporter.update(rows)

    def summary(self, wall: float, target: str, max_parallel: int) -> RunSummary:
        counts: dict[str, int] = {}
        unmerged = []
        for task in self.plan.tasks:
            outcome = self.outcomes[task.id]
            counts[outcome.state.value] = counts.get(outcome.state.value, 0) + 1
            if outcome.state != TaskState.MERGED:
                unmerged.append(
                    {
                        "id": task.id,
                        "state": outcome.state.value,
                        "reason": outcome.reason,
                        "branch": outcome.branch,
                        "log": outcome.log,
                    }
                )
        agent_time = sum(o.agent_time for o in self.outcomes.values())
        code = EXIT_OK if not unmerged else EXIT_UNMERGED
        return RunSummary(
            self.run_id,
            target,
            wall,
            agent_time,
            max_parallel,
            counts,
            unmerged,
            code,
            tuple(self.notes),
        )
