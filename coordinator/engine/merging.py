"""The merge lane: one job at a time moves the target, in dependency order, gate included.

While a task merges or its ``[merge] verify`` gate runs, the loop goes on: markers are read,
agents stop and start, other work is collected and queues up here as ``merging``. The lane
takes the next task only when the previous one is recorded, so the order the loop chose is the
order of the target's first-parent history, and a dependent can never start before the merge
it needs is on the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coordinator.core.config import Identity
from coordinator.core.decisions import after_gate, before_merge
from coordinator.core.refs import branch_ref, task_branch
from coordinator.engine import ending, guarding, resolving
from coordinator.engine.context import GateStarted, RunContext
from coordinator.engine.jobs import MERGE
from coordinator.engine.messages import merge_message
from coordinator.io.faults import crash_point
from coordinator.io.gitrepo import GitRepo
from coordinator.io.merger import MergeOutcome, merge_task
from coordinator.io.shared_state import Finding, SharedState

MERGE_ATTEMPTS = 3  # a target moved by someone else is merged onto again, this many times


def feed_lane(ctx: RunContext) -> None:
    """Hand the next task waiting to merge to the lane, if the lane is free."""
    if ctx.jobs.lane_busy():
        return
    for task_id in ctx.book.merge_order():
        if ctx.jobs.busy(task_id):
            continue  # being given up (a keep job), not merged
        verdict = before_merge(hard_stop=ctx.hard.is_set())
        if verdict.action == "end":
            ending.keep(ctx, task_id, verdict)
            continue
        _merge(ctx, task_id)
        return


def _merge(ctx: RunContext, task_id: str) -> None:
    message = merge_message(ctx, task_id)
    head = ctx.book[task_id].head
    job = MergeJob(ctx.repo, ctx.target_ref, head, message, ctx.config.identity, ctx.attributes,
                   ctx.shared, guarding.look(ctx))  # fmt: skip
    ctx.jobs.start(MERGE, task_id, job.run)


@dataclass(frozen=True)
class MergeJob:
    repo: GitRepo
    target_ref: str
    head: str
    message: str
    identity: Identity
    attributes: Path | None
    shared: SharedState
    look: guarding.Look  # before the target moves: puts back a target someone else moved

    def run(self) -> Landed:
        findings: list[Finding] = []
        for _ in range(MERGE_ATTEMPTS):
            findings += self.look()
            outcome = merge_task(
                self.repo, self.target_ref, self.head, self.message, self.identity,
                attributes=self.attributes, expected=self.shared.expected_target,
                move=self.shared.move_target,
            )  # fmt: skip
            if outcome.status != "moved":
                break
        return Landed(outcome, tuple(findings))


def on_gate(ctx: RunContext, event: GateStarted) -> None:
    """The gate's command runs: show ``verifying`` and store its pid for recovery."""
    ctx.book.verifying(event.task_id, event.pid, event.create_time)
    ctx.rec.emit("verifying", event.task_id, " ".join(ctx.config.merge.verify or []))
    crash_point("gate-running")
    current = ctx.merge_round
    probe = current.gates[0] if current is not None and current.probe and current.gates else ()
    if probe and event.task_id == probe[-1]:  # once per probe, its every pid stored
        crash_point("queue-probe-running")


@dataclass(frozen=True)
class Landed:
    outcome: MergeOutcome
    findings: tuple[Finding, ...] = ()

    def apply(self, ctx: RunContext, task_id: str, seconds: float) -> None:
        ctx.rec.add_phase(task_id, "merge", seconds)
        guarding.report(ctx, self.findings)
        outcome = self.outcome
        if outcome.status == "merged":
            assert outcome.commit is not None
            ctx.book.merged(task_id, outcome.commit)  # with the task's timing
            at_rest(ctx, task_id)
            pool_worktree(ctx, task_id, outcome.commit)
        elif outcome.status == "rejected":
            verdict = after_gate(hard_stop=ctx.hard.is_set())
            detail = "" if ctx.hard.is_set() else outcome.reason
            ending.keep(ctx, task_id, verdict, detail=detail)
        else:
            resolving.on_conflict(ctx, task_id, outcome.conflicts)


def at_rest(ctx: RunContext, task_id: str) -> None:
    """A merged task's branch is written no more this run: guarded at the value it has."""
    ctx.at_rest[branch_ref(task_branch(task_id))] = ctx.book[task_id].head


def pool_worktree(ctx: RunContext, task_id: str, landed: str) -> None:
    """A merged task's worktree goes back to the pool, as a job: the next task reuses it. The
    job also moves its files to ``landed`` (the target's new head, the next task's likely base),
    so that work is not on the next task's start. A task clone never goes back (its git
    directory, config and hooks are its agent's): it stays until ``clean``, as a worktree does
    with the pool off."""
    if ctx.plan.task(task_id).isolation != "worktree":
        return
    if not ctx.jobs.busy(task_id):
        worktrees, placed = ctx.worktrees, tuple(ctx.book[task_id].placed)
        back = ending.hand_back
        ctx.jobs.start("pool", task_id, lambda: Pooled(back(worktrees, task_id, placed, landed)))


@dataclass(frozen=True)
class Pooled:
    pooled: bool

    def apply(self, ctx: RunContext, task_id: str, seconds: float) -> None:
        ctx.rec.add_phase(task_id, "pool", seconds)
