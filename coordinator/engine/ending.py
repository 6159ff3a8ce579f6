"""Tasks that do not land: keep their work on a branch that says why, then end or retry them.

The branch is renamed to ``coordinator/<state>/<run>/<id>`` in a job (git writes its config for
a rename); the task's end is recorded when that is done, so the store never names a branch that
does not exist yet. A task that will run again also has its worktree removed (kept aside if it
holds anything), so the new attempt starts clean from the new head.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from coordinator.core.decisions import Verdict
from coordinator.core.models import TaskState
from coordinator.core.refs import branch_ref, first_free, kept_branch, task_branch
from coordinator.engine.context import RunContext, Timer
from coordinator.io.clones import remove_clone
from coordinator.io.faults import crash_point
from coordinator.io.gitrepo import GitRepo
from coordinator.io.placing import unplace
from coordinator.io.worktrees import Worktrees


def keep(ctx: RunContext, task_id: str, verdict: Verdict, *, detail: str = "") -> None:
    """Start the job that keeps the task's branch; ``detail`` is a longer reason to show."""
    state = verdict.state or TaskState.FAILED
    placed = tuple(ctx.book[task_id].placed)
    clone = ctx.plan.task(task_id).isolation != "worktree"
    job = KeepJob(ctx.repo, ctx.worktrees, task_id, ctx.run_id, state, verdict.action == "retry",
                  placed, clone)  # fmt: skip
    ctx.jobs.start("keep", task_id, lambda: Kept(*job.run(), verdict, detail))


@dataclass(frozen=True)
class KeepJob:
    repo: GitRepo
    worktrees: Worktrees
    task_id: str
    run_id: str
    state: TaskState
    remove_worktree: bool
    placed: tuple[str, ...] = ()
    clone: bool = False  # a task clone: its work is collected, so a retry deletes it

    def run(self) -> tuple[str, str | None]:
        """Rename the task branch (a worktree on it follows); return the name it is kept as
        and the commit it holds."""
        branch = task_branch(self.task_id)
        kept = first_free(
            lambda n: kept_branch(self.state.value, self.run_id, self.task_id, n),
            self.repo.branch_exists,
        )
        if self.repo.branch_exists(branch):
            self.repo.rename_branch(branch, kept)
        crash_point("after-branch-kept")
        if self.remove_worktree and self.clone:  # never pooled: its git directory is the agent's
            remove_clone(self.worktrees.path(self.task_id))
        elif self.remove_worktree:  # what the coordinator placed there is not work to keep
            unplace(self.worktrees.path(self.task_id), self.repo.root, self.placed)
            if not self.worktrees.release(self.task_id):
                self.worktrees.remove(self.task_id, force=False)
        return kept, self.repo.resolve(branch_ref(kept))


@dataclass(frozen=True)
class Kept:
    branch: str
    sha: str | None
    verdict: Verdict
    detail: str

    def apply(self, ctx: RunContext, task_id: str, seconds: float) -> None:
        if self.sha is not None:
            ctx.at_rest[branch_ref(self.branch)] = self.sha
        verdict = self.verdict
        if verdict.action == "retry" and (ctx.stopping or ctx.budget):  # stopped meanwhile
            verdict = Verdict("end", verdict.state, verdict.reason)
        if verdict.action == "retry":
            conflict = verdict.state == TaskState.CONFLICT
            delay = 0.0 if conflict else ctx.agent_config(task_id).retry_delay
            if delay > 0:  # the task waits, shown as pending; a timer brings it back
                ctx.retry_waiting[task_id] = (self.branch, verdict.reason)
                ctx.book.update(task_id, state=TaskState.PENDING, branch=self.branch,
                                reason=f"retry in {delay:g}s after: {verdict.reason}")  # fmt: skip
                ctx.add_timer(time.time() + delay, Timer("retry", task_id, 0))
                return
            ctx.book.retried(task_id, kept=self.branch, reason=verdict.reason, conflict=conflict)
            return
        state = verdict.state or TaskState.FAILED
        ctx.book.ended(task_id, state, verdict.reason, branch=self.branch, detail=self.detail)


def hand_back(
    worktrees: Worktrees, task_id: str, placed: Sequence[str], onto: str | None = None
) -> bool:
    """A merged task's worktree: what the coordinator placed in it is taken back, then it goes
    to the pool, moved to ``onto`` when given. When the pool is full it is removed (its work is
    on the target and on its branch): a long run would otherwise leave one worktree per task,
    and git walks every registered worktree for each branch it moves, so each task's own cost
    grew with the run. It stays where it is (False) when the pool is off (``worktree_pool =
    0`` keeps every worktree for ``clean``) or a placed copy was changed (git may not show an
    ignored copy as work: ``clean`` sets it aside)."""
    if worktrees.pool_size <= 0:
        return False
    if unplace(worktrees.path(task_id), worktrees.repo.root, placed):
        return False
    if worktrees.release(task_id, onto):
        return True
    worktrees.retire(task_id)
    return False


def retry_due(ctx: RunContext, task_id: str) -> None:
    """A failed task's ``retry_delay`` is over: it runs again, unless the run is stopping."""
    waiting = ctx.retry_waiting.pop(task_id, None)
    if waiting is None:
        return
    kept, reason = waiting
    if ctx.stopping or ctx.budget:
        ctx.book.ended(task_id, TaskState.FAILED, reason, branch=kept)
    else:
        ctx.book.retried(task_id, kept=kept, reason=reason, conflict=False)


def give_up_retries(ctx: RunContext) -> None:
    """Ctrl-C or a used-up budget: tasks waiting out a ``retry_delay`` end failed instead."""
    for task_id in list(ctx.retry_waiting):
        kept, reason = ctx.retry_waiting.pop(task_id)
        ctx.book.ended(task_id, TaskState.FAILED, reason, branch=kept)
