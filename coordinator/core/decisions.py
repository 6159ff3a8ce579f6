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
from coordinator.core.usage import Usage

MAX_ATTEMPTS = 2  # a task that conflicts runs once more from the new head, then is kept
FAILED_BY_MARKER = "the agent reported failure"
INTERRUPTED = "interrupted"
TIMEOUT = "timeout"
VERIFY = "verify"  # the reason a task the merge gate rejected carries in ``status``
VIOLATION = "footprint violation"
TAMPERED = "tampered"  # the task changed state shared with other tasks (config, hooks, refs)
BEFORE_MERGE = "interrupted before its merge"
DURING_GATE = "interrupted during the merge gate"
BEFORE_START = "interrupted before it started"
SETUP = "setup"  # the reason of a task whose [worktree] setup command failed
BUDGET = "budget"  # the reason of a task skipped because the run's budget was used up


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
    @property
    def usage(self) -> Usage | None: ...


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
    usage: Usage | None = None  # what the agent said it used, in its marker

    @property
    def retryable(self) -> bool:
        """The agent itself failed or timed out (not a Ctrl-C, not its setup, not tampering:
        an agent that reached past its task is not given another go)."""
        return not self.ok and self.end == TaskState.FAILED and self.how not in (SETUP, TAMPERED)


def by_marker(marker: MarkerReading) -> Completion:
    """A valid marker ends the agent's work: ``done`` or ``failed`` as it says."""
    if marker.status == "done":
        return Completion(True, "marker", summary=marker.summary, usage=marker.usage)
    return Completion(False, "marker", FAILED_BY_MARKER, marker.summary, usage=marker.usage)


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


def tampered() -> Completion:
    """A change to shared state was pinned on the running agent: it is stopped, and fails."""
    return Completion(False, TAMPERED, TAMPERED)


def setup_failed(detail: str) -> Completion:
    """The ``[worktree] setup`` command failed: the agent never ran, the worktree is kept."""
    return Completion(False, SETUP, SETUP, summary=detail)


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
    """What becomes of a task: ``land`` it (hand it to the merge lane), ``resolve`` its merge
    conflict with the resolver agent, ``retry`` it from the new head, or ``end`` it unmerged
    in ``state`` with ``reason`` (its branch is kept)."""

    action: Literal["land", "retry", "end", "resolve"]
    state: TaskState | None = None
    reason: str = ""


LAND = Verdict("land")


def agent_retry(completion: Completion, *, failures: int, retries: int, stopping: bool) -> bool:
    """Whether a failed agent runs again: ``retries`` times at most per task (``failures``
    counts the failed attempts before this one), from the target's head at that time.

    Only the agent's own failure or timeout is retried (an API error, a flaky test): not a
    Ctrl-C, not a failed setup (its worktree is kept to look at), and nothing once the run is
    stopping or out of budget (a retry would be a new start).
    """
    return completion.retryable and failures < retries and not stopping


def after_collect(
    completion: Completion,
    *,
    work_ok: bool,
    work_reason: str,
    violations: Sequence[str],
    on_violation: str,
    retry: bool = False,
    tampered: bool = False,
) -> Verdict:
    """Once the agent is stopped and its work committed: may the work land?

    Work of an agent that tampered with shared state (``tampered``: a change to the
    repository's config, hooks, attributes or refs was pinned on it) never lands, and is not
    retried. A failed (or interrupted) agent's work never lands; with ``retry`` (see
    ``agent_retry``) it is kept and the task runs again. Nor does work land that the
    collection could not vouch for (a reset branch, work split across refs). Paths changed
    outside the predicted footprint only stop it with ``on_violation = "fail"``: by default
    they are a warning and a trailer on the merge commit.
    """
    if tampered:
        return Verdict("end", TaskState.FAILED, TAMPERED)
    if not completion.ok:
        if retry:
            return Verdict("retry", TaskState.FAILED, completion.reason)
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

    With ``on_conflict = "resolve"`` a first conflict goes to the resolver agent, which edits
    the conflicted merge itself (cheaper than redoing the task); only real conflicting paths
    can be resolved, not a target that kept moving. With ``"retry"`` (and after a resolver
    failed, see ``after_resolver``) the task runs once more from the new head, where its agent
    sees the work it collided with; a second conflict, ``"stop"``, or a run being stopped keeps
    the branch as a conflict instead.
    """
    reason = conflict_reason(conflicts)
    if stopping or attempt >= MAX_ATTEMPTS:
        return Verdict("end", TaskState.CONFLICT, reason)
    if on_conflict == "resolve" and conflicts:
        return Verdict("resolve", TaskState.CONFLICT, reason)
    if on_conflict in ("retry", "resolve"):
        return Verdict("retry", TaskState.CONFLICT, reason)
    return Verdict("end", TaskState.CONFLICT, reason)


def after_resolver(conflicts: Sequence[str], why: str, *, attempt: int, stopping: bool) -> Verdict:
    """The resolver could not land the conflicted merge (``why``): fall back to a rerun from
    the new head, once, then keep the branch as a conflict."""
    reason = f"{conflict_reason(conflicts)}; the resolver failed: {why}"
    if attempt < MAX_ATTEMPTS and not stopping:
        return Verdict("retry", TaskState.CONFLICT, reason)
    return Verdict("end", TaskState.CONFLICT, reason)


def conflict_reason(conflicts: Sequence[str]) -> str:
    paths = ", ".join(conflicts) or "the target moved during the merge"
    return f"merge conflict in {paths}"


def setup_runs(*, configured: bool, fresh: bool, always: bool) -> bool:
    """``[worktree] setup`` runs in a new worktree; a reused one only with ``setup_always``."""
    return configured and (fresh or always)


def budget_left(total: Usage, *, max_cost_usd: float | None, max_tokens: int | None) -> str:
    """Why the run may start nothing more (its agents' total reached ``[budget]``), or "".

    Reaching the budget stops new starts only: agents already running finish and their work
    lands, since stopping them would waste what was spent on them.
    """
    cost, tokens = total.cost_usd, total.tokens
    if max_cost_usd is not None and cost is not None and cost >= max_cost_usd:
        return f"the run's cost ${cost:.4f} reached [budget] max_cost_usd {max_cost_usd:g}"
    if max_tokens is not None and tokens is not None and tokens >= max_tokens:
        return f"the run's {tokens} tokens reached [budget] max_tokens {max_tokens}"
    return ""


@dataclass(frozen=True)
class Machine:
    """What the machine has to spare right now (observed by the engine, judged here)."""

    free_disk: int
    free_memory: int
    load_per_core: float


@dataclass(frozen=True)
class Limits:
    """``min_free_disk``, ``min_free_memory`` (bytes) and ``max_load`` (per core) of the config."""

    min_free_disk: int
    min_free_memory: int = 0
    max_load: float | None = None


def admission(machine: Machine, limits: Limits, *, where: str = "the worktrees") -> str:
    """Why no new task may start now ("" when one may): too little disk under the worktrees,
    too little memory available, or a 1-minute load per core above ``max_load``."""
    mib = 2**20
    if machine.free_disk < limits.min_free_disk:
        return (
            f"free disk {machine.free_disk // mib} MiB under {where} is below min_free_disk "
            f"{limits.min_free_disk // mib} MiB"
        )
    if machine.free_memory < limits.min_free_memory:
        return (
            f"free memory {machine.free_memory // mib} MiB is below min_free_memory "
            f"{limits.min_free_memory // mib} MiB"
        )
    if limits.max_load is not None and machine.load_per_core > limits.max_load:
        return f"load {machine.load_per_core:.2f} per core is above max_load {limits.max_load:g}"
    return ""
