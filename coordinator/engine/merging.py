"""The merge lane: one job at a time moves the target, in dependency order, gate included.

While a task merges or its ``[merge] verify`` gate runs, the loop goes on: markers are read,
agents stop and start, other work is collected and queues up here as ``merging``. The lane
takes the next task only when the previous one is recorded, so the order the loop chose is the
order of the target's first-parent history, and a dependent can never start before the merge
it needs is on the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from coordinator.core.config import Identity
from coordinator.core.decisions import after_conflict, after_gate, before_merge
from coordinator.engine import ending
from coordinator.engine.book import NO_CHANGES
from coordinator.engine.context import GateStarted, RunContext
from coordinator.engine.jobs import MERGE
from coordinator.io.faults import crash_point
from coordinator.io.gitrepo import GitRepo
from coordinator.io.history import TRAILER_DIGEST
from coordinator.io.merger import SUMMARY_PREFIX, MergeOutcome, build_merge_message, merge_task

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
    job = MergeJob(ctx.repo, ctx.target_ref, head, message, ctx.config.identity, ctx.attributes)
    ctx.jobs.start(MERGE, task_id, job.run)


def merge_message(ctx: RunContext, task_id: str) -> str:
    """The task's merge commit message: title, the agent's summary, the trailers."""
    task = ctx.plan.task(task_id)
    run = ctx.book[task_id]
    return build_merge_message(
        task_id, task.spec.title or task_id, task.agent, ctx.run_id, run.violations,
        {TRAILER_DIGEST: task.spec.digest} if task.spec.digest else {},
        body=merge_body(run.summary, run.changed_files),
    )  # fmt: skip


def merge_body(summary: str, changed: Sequence[str]) -> str:
    """The merge commit's body: the agent's summary, and a note when nothing changed, so that
    a clone without the coordinator's store still tells the whole story."""
    parts = []
    if summary := summary.strip():
        parts.append(SUMMARY_PREFIX + summary)
    if not changed:
        parts.append(f"The task landed with {NO_CHANGES}: its agent changed no files.")
    return "\n\n".join(parts)


@dataclass(frozen=True)
class MergeJob:
    repo: GitRepo
    target_ref: str
    head: str
    message: str
    identity: Identity
    attributes: Path | None

    def run(self) -> Landed:
        for _ in range(MERGE_ATTEMPTS):
            outcome = merge_task(
                self.repo, self.target_ref, self.head, self.message, self.identity,
                attributes=self.attributes,
            )  # fmt: skip
            if outcome.status != "moved":
                break
        return Landed(outcome)


def on_gate(ctx: RunContext, event: GateStarted) -> None:
    """The gate's command runs: show ``verifying`` and store its pid for recovery."""
    ctx.book.verifying(event.task_id, event.pid, event.create_time)
    ctx.rec.emit("verifying", event.task_id, " ".join(ctx.config.merge.verify or []))
    crash_point("gate-running")


@dataclass(frozen=True)
class Landed:
    outcome: MergeOutcome

    def apply(self, ctx: RunContext, task_id: str, seconds: float) -> None:
        ctx.rec.add_phase(task_id, "merge", seconds)
        outcome = self.outcome
        if outcome.status == "merged":
            assert outcome.commit is not None
            ctx.book.merged(task_id, outcome.commit)
            pool_worktree(ctx, task_id)
            ctx.rec.emit_timing(task_id)
        elif outcome.status == "rejected":
            verdict = after_gate(hard_stop=ctx.hard.is_set())
            detail = "" if ctx.hard.is_set() else outcome.reason
            ending.keep(ctx, task_id, verdict, detail=detail)
        else:
            verdict = after_conflict(
                outcome.conflicts, on_conflict=ctx.config.on_conflict,
                attempt=ctx.book[task_id].attempt, stopping=ctx.stopping,
            )  # fmt: skip
            ending.keep(ctx, task_id, verdict)


def pool_worktree(ctx: RunContext, task_id: str) -> None:
    """A merged task's worktree goes back to the pool, as a job: the next task reuses it."""
    if not ctx.jobs.busy(task_id):
        worktrees = ctx.worktrees
        ctx.jobs.start("pool", task_id, lambda: Pooled(worktrees.release(task_id)))


@dataclass(frozen=True)
class Pooled:
    pooled: bool

    def apply(self, ctx: RunContext, task_id: str, seconds: float) -> None:
        ctx.rec.add_phase(task_id, "pool", seconds)
