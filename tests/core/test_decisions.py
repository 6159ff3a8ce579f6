"""The engine's decision rules, with no git, no processes and no clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from coordinator.core.decisions import (
    BEFORE_MERGE,
    DURING_GATE,
    FAILED_BY_MARKER,
    LAND,
    VERIFY,
    VIOLATION,
    Completion,
    Verdict,
    after_collect,
    after_conflict,
    after_gate,
    before_merge,
    by_exit,
    by_marker,
    interrupted,
    stop_grace,
    task_timeout,
    timed_out,
)
from coordinator.core.models import TaskState


@dataclass(frozen=True)
class Marker:
    status: str = "done"
    summary: str = ""
    valid: bool = True
    error: str | None = None


DONE = Completion(True, "marker")


# ------------------------------------------------------------------ completion
def test_a_done_marker_is_done_and_carries_its_summary() -> None:
    assert by_marker(Marker("done", "all good")) == Completion(True, "marker", "", "all good")


def test_a_failed_marker_fails_with_the_agents_summary() -> None:
    got = by_marker(Marker("failed", "could not build"))
    assert (got.ok, got.reason, got.summary, got.end) == (
        False, FAILED_BY_MARKER, "could not build", TaskState.FAILED,
    )  # fmt: skip


def test_at_exit_a_valid_marker_still_decides_over_the_exit_code() -> None:
    assert by_exit(Marker("done"), 3).ok
    assert not by_exit(Marker("failed"), 0).ok


def test_at_exit_a_marker_that_is_still_not_valid_fails_the_task() -> None:
    got = by_exit(Marker("failed", valid=False, error="marker is not JSON"), 0)
    assert (got.ok, got.reason) == (False, "marker is not valid: marker is not JSON")


def test_without_a_marker_the_exit_code_decides() -> None:
    assert by_exit(None, 0) == Completion(True, "exit 0")
    killed = by_exit(None, -9)
    assert (killed.ok, killed.reason, killed.how) == (False, "exit code -9", "exit code -9")


def test_a_timeout_fails_and_an_interrupt_cancels() -> None:
    assert (timed_out().ok, timed_out().reason, timed_out().end) == (
        False, "timeout", TaskState.FAILED,
    )  # fmt: skip
    assert (interrupted().ok, interrupted().end) == (False, TaskState.CANCELLED)


# ---------------------------------------------------------------- timings
@pytest.mark.parametrize(
    ("spec", "agent", "expected"), [(5.0, 60.0, 5.0), (None, 60.0, 60.0), (None, None, None)]
)
def test_the_specs_timeout_wins_over_the_agent_types(
    spec: float | None, agent: float | None, expected: float | None
) -> None:
    assert task_timeout(spec, agent) == expected


def test_grace_is_the_agent_types_else_the_runs_and_none_on_a_hard_stop() -> None:
    assert stop_grace(2.0, 5.0, hard=False) == 2.0
    assert stop_grace(None, 5.0, hard=False) == 5.0
    assert stop_grace(2.0, 5.0, hard=True) == 0.0


# ------------------------------------------------------------- after collect
def collect(completion: Completion = DONE, **kwargs: object) -> Verdict:
    args: dict[str, object] = {
        "work_ok": True, "work_reason": "", "violations": [], "on_violation": "warn",
    }  # fmt: skip
    args.update(kwargs)
    return after_collect(completion, **args)  # type: ignore[arg-type]


def test_finished_clean_work_lands() -> None:
    assert collect() == LAND


def test_a_failed_agents_work_ends_with_its_reason_in_its_end_state() -> None:
    assert collect(timed_out()) == Verdict("end", TaskState.FAILED, "timeout")
    assert collect(interrupted()) == Verdict("end", TaskState.CANCELLED, "interrupted")


def test_work_collection_could_not_vouch_for_never_lands() -> None:
    got = collect(work_ok=False, work_reason="task branch was reset behind its base")
    assert got == Verdict("end", TaskState.FAILED, "task branch was reset behind its base")


def test_a_footprint_violation_warns_by_default_and_fails_with_on_violation_fail() -> None:
    assert collect(violations=["elsewhere.txt"]) == LAND
    failed = collect(violations=["elsewhere.txt"], on_violation="fail")
    assert failed == Verdict("end", TaskState.FAILED, VIOLATION)
    assert collect(on_violation="fail") == LAND


# ------------------------------------------------------------ merge outcomes
def test_a_second_ctrl_c_cancels_what_waits_for_the_merge_lane() -> None:
    assert before_merge(hard_stop=False) == LAND
    assert before_merge(hard_stop=True) == Verdict("end", TaskState.CANCELLED, BEFORE_MERGE)


def test_a_rejecting_gate_fails_the_task_unless_a_hard_stop_killed_the_gate() -> None:
    assert after_gate(hard_stop=False) == Verdict("end", TaskState.FAILED, VERIFY)
    assert after_gate(hard_stop=True) == Verdict("end", TaskState.CANCELLED, DURING_GATE)


def test_a_first_conflict_retries_and_a_second_is_kept() -> None:
    first = after_conflict(["a.txt", "b.txt"], on_conflict="retry", attempt=1, stopping=False)
    assert first == Verdict("retry", TaskState.CONFLICT, "merge conflict in a.txt, b.txt")
    second = after_conflict(["a.txt"], on_conflict="retry", attempt=2, stopping=False)
    assert second == Verdict("end", TaskState.CONFLICT, "merge conflict in a.txt")


def test_a_conflict_is_kept_with_on_conflict_stop_or_while_stopping() -> None:
    assert after_conflict(["x"], on_conflict="stop", attempt=1, stopping=False).action == "end"
    assert after_conflict(["x"], on_conflict="retry", attempt=1, stopping=True).action == "end"


def test_a_target_that_kept_moving_reads_as_such() -> None:
    got = after_conflict([], on_conflict="stop", attempt=1, stopping=False)
    assert got.reason == "merge conflict in the target moved during the merge"
