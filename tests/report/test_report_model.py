"""The report's data from hand-made store records: bars, phases, outcomes, figures, escaping."""

from __future__ import annotations

import json
import re
import time
from typing import Any, ClassVar

from coordinator.io.store import AttemptRecord, EventRecord, RunRecord, TaskRecord
from coordinator.report.model import RunFacts, git_commands, run_data, usage_of
from coordinator.report.page import render_page
from coordinator.report.timeline import build_bars, merge_lanes

T0 = 1_800_000_000.0


def task(task_id: str, state: str = "merged", **fields: Any) -> TaskRecord:
    values: dict[str, Any] = dict.fromkeys(TaskRecord.__dataclass_fields__)
    values.update(run_id="r", task_id=task_id, agent="coder", state=state, attempt=1)
    values.update(predicted_files=[], changed_files=[], violations=[])
    values.update(started_at=T0, finished_at=T0 + 5)
    values.update(fields)
    return TaskRecord(**values)


def attempt(
    task_id: str, n: int, start: float, end: float | None, outcome: str = "done"
) -> AttemptRecord:
    return AttemptRecord(
        "r", task_id, n, T0 + start, None if end is None else T0 + end, outcome, None, None, None
    )


def phase(task_id: str, name: str, start: float, end: float) -> EventRecord:
    data = {"phase": name, "start": T0 + start, "end": T0 + end}
    return EventRecord(0, "r", task_id, T0 + start, "phase", data)


def event(kind: str, task_id: str | None, at: float, **data: Any) -> EventRecord:
    return EventRecord(0, "r", task_id, T0 + at, kind, data)


def run_record(instances: int = 2, finished: float | None = 20.0) -> RunRecord:
    return RunRecord(
        "r",
        "finished",
        T0,
        None if finished is None else T0 + finished,
        "main",
        "b" * 40,
        instances,
    )


def test_phases_go_to_their_attempt_and_a_retried_try_shows_its_conflict() -> None:
    tasks = [task("y", attempt=2, merged_at=T0 + 12.3)]
    attempts = [attempt("y", 1, 1.0, 4.0), attempt("y", 2, 6.1, 12.0)]
    events = [
        phase("y", "worktree", 0.9, 1.0),
        phase("y", "start", 1.0, 1.01),
        phase("y", "commit", 4.1, 4.2),
        phase("y", "merge", 4.2, 4.3),
        phase("y", "worktree", 6.0, 6.1),
        phase("y", "commit", 12.0, 12.1),
        phase("y", "gate", 12.1, 12.25),
        phase("y", "merge", 12.1, 12.3),
        phase("y", "store", 2.0, 2.001),
    ]
    bars, lanes = build_bars(tasks, attempts, events, origin=T0, now=T0 + 30)
    assert [(b.attempt, b.outcome) for b in bars] == [(1, "conflict"), (2, "merged")]
    first, second = bars
    assert [p[0] for p in first.phases] == ["worktree", "agent", "collect", "merge"]
    assert [p[0] for p in second.phases] == ["worktree", "agent", "collect", "gate", "merge"]
    assert (round(first.start, 3), round(first.end, 3)) == (0.9, 4.3)
    assert (round(second.start, 3), round(second.end, 3)) == (6.0, 12.3)
    assert lanes == 1 and first.lane == second.lane == 0


def test_lanes_follow_slots_an_agent_gives_back_when_it_ends() -> None:
    """b starts while a's merge is still going on: a's slot is free, so one lane holds both."""
    tasks = [task("a"), task("b"), task("c")]
    attempts = [attempt("a", 1, 0, 5), attempt("b", 1, 5.01, 9), attempt("c", 1, 0, 9)]
    events = [phase("a", "commit", 5.0, 5.1), phase("a", "merge", 5.1, 5.2)]
    bars, lanes = build_bars(tasks, attempts, events, origin=T0, now=T0 + 30)
    lane = {b.task: b.lane for b in bars}
    assert lanes == 2 and lane["a"] == lane["b"] != lane["c"]
    assert merge_lanes(bars) == 1  # a's collect and merge go in a lane of their own
    assert {b.task: b.tail_lane for b in bars} == {"a": 0, "b": -1, "c": -1}


def test_outcomes_colour_failed_tampered_running_and_old_runs_get_phases_from_timing() -> None:
    tasks = [
        task("f", "failed", reason="exit code 3"),
        task("t", "failed", reason="tampered: .git/config changed"),
        task("run", "running", finished_at=None),
        task("s", "skipped", started_at=None, finished_at=None),
        task("old", merged_at=T0 + 6),
    ]
    attempts = [
        attempt("f", 1, 0, 2, "failed"),
        attempt("t", 1, 0, 2),
        attempt("run", 1, 1, None),
        attempt("old", 1, 1, 5),
    ]
    timing = event(
        "timing", "old", 6, phases_ms={"worktree": 100.0, "commit": 50.0, "merge": 200.0}
    )
    bars, _ = build_bars(tasks, attempts, [timing], origin=T0, now=T0 + 8)
    by_task = {b.task: b for b in bars}
    assert set(by_task) == {"f", "t", "run", "old"}  # a skipped task has no bar
    assert (by_task["f"].outcome, by_task["t"].outcome) == ("failed", "tampered")
    assert by_task["run"].outcome == "running" and by_task["run"].end == 8
    names = {p[0]: (round(p[1], 3), round(p[2], 3)) for p in by_task["old"].phases}
    assert names == {"worktree": (0.9, 1), "agent": (1, 5), "collect": (5, 5.05), "merge": (5.8, 6)}


def test_figures_makespan_work_speedup_and_a_lower_bound_without_a_plan() -> None:
    tasks = [task("a"), task("b")]
    attempts = [attempt("a", 1, 0, 8), attempt("b", 1, 0, 4)]
    data = run_data(RunFacts(run_record(), tasks, attempts, [], now=T0 + 40))
    stats = data["stats"]
    assert stats["makespan"] == 20.0 and stats["work"] == 12.0
    assert stats["speedup"] == 0.6
    assert stats["lower_bound"] == 8.0  # the longest task, above work / instances = 6
    assert stats["planned_makespan"] is None and data["planned"] == []
    assert [t["id"] for t in data["tasks"]] == ["a", "b"]


def test_git_commands_for_merged_and_kept_work() -> None:
    merged = task("m", merge_commit="abc123def4567890" + "0" * 24)
    assert git_commands(merged)[0] == "git show --stat abc123def456"
    kept = task("k", "failed", branch="coordinator/failed/r/k", base="f" * 40, log="/tmp/a b.log")
    assert git_commands(kept) == [
        "git log --oneline ffffffffffff..coordinator/failed/r/k",
        "git diff ffffffffffff coordinator/failed/r/k",
        "less '/tmp/a b.log'",
    ]


def test_usage_is_read_when_the_store_has_it() -> None:
    class WithUsage:
        usage: ClassVar = {"input_tokens": 1200, "output_tokens": 300, "cost_usd": None}

    assert usage_of(task("plain")) is None
    assert usage_of(WithUsage()) == {"input_tokens": 1200, "output_tokens": 300, "cost_usd": None}


def test_agent_text_cannot_break_out_of_the_page() -> None:
    hostile = (
        "</script><script>alert(1)</script><!-- <img src=x onerror=alert(2)> \u2028 @@SCRIPT@@"
    )
    tasks = [task("a", summary=hostile, reason=hostile)]
    events = [event("finished", "a", 1, message=hostile, summary=hostile)]
    data = run_data(RunFacts(run_record(), tasks, [attempt("a", 1, 0, 1)], events, now=T0 + 30))
    page = render_page(data, f"run {hostile}")
    assert page.count("<script") == 2  # the data block and the page's own script
    assert "<img" not in page and "<!-- <" not in page
    block = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S
    )
    assert block is not None and "\u2028" not in block.group(1)
    assert json.loads(block.group(1))["tasks"][0]["summary"] == hostile  # intact as data
    policy = re.search(r'Content-Security-Policy" content="([^"]*)"', page)
    assert policy is not None and "default-src &#x27;none&#x27;" in policy.group(1)


def test_five_thousand_tasks_make_their_data_quickly() -> None:
    """A generous bound that a quadratic step (a list lookup per task) would break."""
    n = 5000
    tasks = [task(f"t{i}", started_at=T0 + i, finished_at=T0 + i + 3) for i in range(n)]
    attempts = [attempt(f"t{i}", 1, i, i + 3) for i in range(n)]
    events = [phase(f"t{i}", "merge", i + 3, i + 3.1) for i in range(n)]
    started = time.perf_counter()
    data = run_data(RunFacts(run_record(finished=n + 10), tasks, attempts, events, now=T0 + n + 20))
    render_page(data, "big")
    assert time.perf_counter() - started < 10
    assert len(data["bars"]) == n and data["lanes"] >= 3
