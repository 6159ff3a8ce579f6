"""What a run says as it goes: events to the store and the display, and its own timings.

Every event goes to the store (``coordinator status`` in another terminal reads it live) and to
the reporter. The coordinator's own time per task and phase is kept for ``scripts/bench``: the
loop thread times what it does itself, and jobs report how long theirs took. Task state is not
kept here: ``coordinator.engine.book`` owns it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from coordinator.io.notifier import Notifier
from coordinator.io.store import Store
from coordinator.ui.display import Reporter, RunEvent


class Recorder:
    """The run's event log and phase timings, written through the store and the reporter."""

    def __init__(self, store: Store, reporter: Reporter, run_id: str) -> None:
        self.store = store
        self.reporter = reporter
        self.run_id = run_id
        self.phases: dict[str, dict[str, float]] = {}
        self.notes: list[str] = []
        self.notifier: Notifier | None = None  # ``[notify] command``, when configured
        self._storing = False  # in a timed store write (the loop thread's only)

    def notify(self, kind: str, **payload: Any) -> None:
        """Hand a notice to ``[notify] command`` (off this thread); a no-op without one."""
        if self.notifier is not None:
            self.notifier.send(kind, {"run_id": self.run_id, **payload})

    def emit(self, kind: str, task_id: str | None, message: str = "", **data: Any) -> None:
        now = time.time()
        with self.timed(task_id, "store"):
            self.store.add_event(
                self.run_id, kind, task_id=task_id, at=now, data={"message": message, **data}
            )
        self.reporter.event(RunEvent(kind, now, task_id, message, data))

    def add_phase(
        self, task_id: str, phase: str, seconds: float, *, end: float | None = None
    ) -> None:
        """Add time spent for ``task_id`` in ``phase`` (a job reports its own, ending at ``end``).

        Every phase but the store's own writes is also kept in the store as a ``phase`` event
        (its wall-clock start and end), so the HTML report can draw where a task's time went.
        """
        phases = self.phases.setdefault(task_id, {})
        phases[phase] = phases.get(phase, 0.0) + seconds
        if phase != "store":
            ended = time.time() if end is None else end
            span = {"phase": phase, "start": ended - seconds, "end": ended}
            self.store.add_event(self.run_id, "phase", task_id=task_id, at=ended - seconds,
                                 data=span)  # fmt: skip

    def note_gate_log(self, group: Sequence[str], log: Path) -> None:
        """Where the gate run about to start for ``group`` writes: the log (named after the
        group's last task) and the offset its output starts at, for each task it covers, so
        that ``coordinator logs`` shows every task of a batch the gate runs that covered it.
        Kept in the store only (a ``gate-log`` event), like phases."""
        try:
            offset = log.stat().st_size
        except OSError:
            offset = 0
        data = {"log": str(log), "offset": offset, "group": list(group)}
        for task_id in group:
            self.store.add_event(self.run_id, "gate-log", task_id=task_id, at=time.time(),
                                 data=data)  # fmt: skip

    def note_marker_latency(self, task_id: str, path: Path) -> None:
        """Marker written (its mtime) to marker handled: the detection latency."""
        try:
            written = path.stat().st_mtime
        except OSError:
            return
        self.phases.setdefault(task_id, {})["detect"] = max(0.0, time.time() - written)

    def add_timings(self, task_id: str, phases: Mapping[str, float]) -> None:
        """Seconds measured elsewhere (a Ray node's phases) for the ``timing`` event only: no
        ``phase`` events, as they are not spans of this machine's clock."""
        mine = self.phases.setdefault(task_id, {})
        for phase, seconds in phases.items():
            mine[phase] = mine.get(phase, 0.0) + seconds

    def emit_timing(self, task_id: str) -> None:
        phases = {k: round(v * 1000, 3) for k, v in self.phases.get(task_id, {}).items()}
        self.emit("timing", task_id, "", phases_ms=phases)

    @contextmanager
    def storing(self, task_id: str | None) -> Iterator[None]:
        """One store transaction for the writes of one transition (the task's record and the
        event that says it), timed once as the task's ``store`` phase: one commit, not two."""
        with self.timed(task_id, "store"), self.store.transaction():
            yield

    @contextmanager
    def timed(self, task_id: str | None, phase: str) -> Iterator[None]:
        """Accumulate the loop thread's own time per task and phase, for ``scripts/bench``.
        A store write inside ``storing`` is counted there, once."""
        if phase == "store":
            if self._storing:
                yield
                return
            self._storing = True
        start = time.perf_counter()
        try:
            yield
        finally:
            if phase == "store":
                self._storing = False
            if task_id is not None:
                self.add_phase(task_id, phase, time.perf_counter() - start)
