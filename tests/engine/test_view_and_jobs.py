"""The loop's per-event work must not grow with the task list: rows of the live view are only
computed by a reporter that draws them (at most four times a second), and job threads are
reused. ``scripts/bench soak`` found the coordinator's own time per task growing with the
number of tasks: every event rebuilt every task's row, and why each pending task waits."""

from __future__ import annotations

import io
import queue
import threading
from dataclasses import dataclass

from rich.console import Console

from coordinator.engine.context import RunContext
from coordinator.engine.jobs import JobDone, Jobs
from coordinator.ui.display import JsonReporter, LiveReporter, PlainReporter, TaskRow
from coordinator.ui.lazyrows import LazyRows

ROW = TaskRow("a", "fake", "running", 1, None, None, "", "", "", "")


def test_rows_are_computed_once_and_only_when_read() -> None:
    calls: list[int] = []

    def compute() -> list[TaskRow]:
        calls.append(1)
        return [ROW]

    rows = LazyRows(compute)
    assert calls == []
    assert len(rows) == 1 and rows[0] == ROW and list(rows) == [ROW]
    assert calls == [1]


def test_reporters_without_a_table_never_compute_rows() -> None:
    def compute() -> list[TaskRow]:
        raise AssertionError("rows computed for a reporter that shows none")

    for reporter in (PlainReporter(io.StringIO()), JsonReporter(io.StringIO())):
        reporter.update(LazyRows(compute))


def test_the_live_table_reads_rows_at_most_four_times_a_second() -> None:
    calls: list[int] = []

    def compute() -> list[TaskRow]:
        calls.append(1)
        return [ROW]

    live = LiveReporter(Console(file=io.StringIO(), force_terminal=True, width=120))
    live.start("r", "coordinator/integration", 1)
    try:
        for _ in range(200):  # 200 events in far less than a quarter of a second
            live.update(LazyRows(compute))
    finally:
        live.close()
    assert 1 <= len(calls) <= 3


@dataclass(frozen=True)
class _Ident:
    thread: int

    def apply(self, ctx: RunContext, task_id: str, seconds: float) -> None:
        raise NotImplementedError


def test_jobs_all_report_and_a_failing_job_does_not_stop_its_thread() -> None:
    events: queue.SimpleQueue[object] = queue.SimpleQueue()
    jobs = Jobs(events)
    release = threading.Event()

    def work() -> _Ident:
        release.wait(10)
        return _Ident(threading.get_ident())

    def fail() -> _Ident:
        raise ValueError("job failed")

    for i in range(12):  # all at once: none may wait behind another
        jobs.start("work", f"t{i}", work)
    jobs.start("fail", "bad", fail)
    failed = events.get(timeout=10)
    assert isinstance(failed, JobDone) and isinstance(failed.error, ValueError)
    release.set()
    done = [events.get(timeout=10) for _ in range(12)]
    assert all(isinstance(d, JobDone) and d.error is None for d in done)
    results = [d.result for d in done if isinstance(d, JobDone)]
    for d in [failed, *done]:
        assert isinstance(d, JobDone)
        jobs.finished(d)
    assert jobs.running == {}
    threads = {r.thread for r in results if isinstance(r, _Ident)}
    assert len(threads) == 12  # each ran on a thread of its own, side by side
    jobs.start("again", "t0", work)  # served by a thread that is free again
    again = events.get(timeout=10)
    assert isinstance(again, JobDone) and again.error is None
