"""The run engine's judgement calls, as pure functions of what it observed.

The engine (``coordinator.engine``) observes processes, markers, git and the clock, then asks
these functions what follows: whether an agent's end counts as done, how long a timeout or a
stop may take, whether finished work may land, what a conflict, a footprint violation or a
failed merge gate does to a task. Keeping the rules here, free of I/O, is what lets them be
read in one place and tested without git or processes (``tests/core/test_decisions.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from coordinator.core.models import TaskState

MAX_ATTEMPTS = 2  # a task that conflicts runs once more from the new head, then is kept
FAILED_BY_MARKER = "the agent reported failure"
INTERRUPTED = "interrupted"
TIMEOUT = "timeout"
VERIFY = "verify"  # the reason a task the merge gate rejected carries in ``status``
VIOLATION = "footprint violation"
BEFORE_MERGE = "interrupted before its merge"
DURING_GATE = "interrupted during the merge gate"
BEFORE_START = "interrupted before it started"


class MarkerReading(Protocol):
    """What a completion marker said (``coordinator.io.markers.MarkerContent`` is one)."""

    @property
    def status(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def valid(self) -> bool: ...
    @property
    def error(self) -> str | None: ...


@dataclass(frozen=True)
class Completion:
    """How an agent's work ended: ``ok`` (done) or not, with the reason and how it was seen.

    ``how`` is for the event log ("marker", "exit 0", "timeout"...); ``reason`` is empty when
    ``ok`` and otherwise what ``status`` shows for the task.
    """

    ok: bool
    how: str
    reason: str = ""
    summary: str = ""
    end: TaskState = TaskState.FAILED  # the state the task ends in when its work is not merged


def by_marker(marker: MarkerReading) -> Completion:
    """A valid marker ends the agent's work: ``done`` or ``failed`` as it says."""
    if marker.status == "done":
        return Completion(True, "marker", summary=marker.summary)
    return Completion(False, "marker", FAILED_BY_MARKER, marker.summary)


def by_exit(marker: MarkerReading | None, returncode: int, launch_error: str = "") -> Completion:
    """The agent's main process exited before any marker was taken as final.

    An agent that could not even start fails with the launch error (``could not start <program>:
    <why>``), which is what the user must fix. Otherwise a marker written just before the exit
    still decides (it says more than an exit code); a marker that is not valid by then never
    will be, so it fails the task; without a marker, exit 0 is done and anything else failed.
    """
    if launch_error:
        return Completion(False, launch_error, launch_error)
    if marker is not None and marker.valid:
        return by_marker(marker)
    if marker is not None:
        return Completion(False, "marker", f"marker is not valid: {marker.error}")
    if returncode == 0:
        return Completion(True, "exit 0")
    return Completion(False, f"exit code {returncode}", f"exit code {returncode}")


def timed_out() -> Completion:
    return Completion(False, TIMEOUT, TIMEOUT)


def interrupted() -> Completion:
    """Ctrl-C stopped the agent: its work is kept as cancelled, and it runs again next time."""
    return Completion(False, INTERRUPTED, INTERRUPTED, end=TaskState.CANCELLED)


def task_timeout(spec_timeout: float | None, agent_timeout: float | None) -> float | None:
    """The spec's own timeout wins over its agent type's; None: no timeout at all."""
    return spec_timeout if spec_timeout is not None else agent_timeout


def stop_grace(agent_grace: float | None, run_grace: float, *, hard: bool) -> float:
    """Seconds an agent's processes get between SIGTERM and SIGKILL.

    The agent type's ``grace`` wins over the run's; a second Ctrl-C leaves no time at all.
    """
    if hard:
        return 0.0
    return agent_grace if agent_grace is not None else run_grace


@dataclass(frozen=True)
class Verdict:
    """What becomes of a task: ``land`` it (hand it to the merge lane), ``retry`` it from the
    new head, or ``end`` it unmerged in ``state`` with ``reason`` (its branch is kept)."""

    action: Literal["land", "retry", "end"]
    state: TaskState | None = None
    reason: str = ""


LAND = Verdict("land")


def after_collect(
    completion: Completion,
    *,
    work_ok: bool,
    work_reason: str,
    violations: Sequence[str],
    on_violation: str,
) -> Verdict:
    """Once the agent is stopped and its work committed: may the work land?

    A failed (or interrupted) agent's work never lands; nor does work the collection could not
    vouch for (a reset branch, work split across refs). Paths changed outside the predicted
    footprint only stop it with ``on_violation = "fail"``: by default they are a warning and a
    trailer on the merge commit.
    """
    if not completion.ok:
        return Verdict("end", completion.end, completion.reason)
    if not work_ok:
        return Verdict("end", TaskState.FAILED, work_reason)
    if violations and on_violation == "fail":
        return Verdict("end", TaskState.FAILED, VIOLATION)
    return LAND


def before_merge(*, hard_stop: bool) -> Verdict:
    """A second Ctrl-C cancels work still waiting for the merge lane; otherwise it lands."""
    return Verdict("end", TaskState.CANCELLED, BEFORE_MERGE) if hard_stop else LAND


def after_gate(*, hard_stop: bool) -> Verdict:
    """The merge gate said no: the task failed (reason ``verify``), unless a second Ctrl-C
    killed the gate, which says nothing about the work: then it is cancelled."""
    if hard_stop:
        return Verdict("end", TaskState.CANCELLED, DURING_GATE)
    return Verdict("end", TaskState.FAILED, VERIFY)


def after_conflict(
    conflicts: Sequence[str], *, on_conflict: str, attempt: int, stopping: bool
) -> Verdict:
    """The merge conflicted (or the target kept moving under the merge).

    With ``on_conflict = "retry"`` the task runs once more from the new head, where its agent
    sees the work it collided with; a second conflict, ``"stop"``, or a run being stopped keeps
    the branch as a conflict instead.
    """
    paths = ", ".join(conflicts) or "the target moved during the merge"
    reason = f"merge conflict in {paths}"
    if on_conflict == "retry" and attempt < MAX_ATTEMPTS and not stopping:
        return Verdict("retry", TaskState.CONFLICT, reason)
    return Verdict("end", TaskState.CONFLICT, reason)
