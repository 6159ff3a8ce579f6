"""Tasks that do not land: keep their work on a branch that says why, then end or retry them.

The branch is renamed to ``coordinator/<state>/<run>/<id>`` in a job (git writes its config for
a rename); the task's end is recorded when that is done, so the store never names a branch that
does not exist yet. A task that will run again also has its worktree removed (kept aside if it
holds anything), so the new attempt starts clean from the new head.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordinator.core.decisions import Verdict
from coordinator.core.models import TaskState
from coordinator.core.refs import first_free, kept_branch, task_branch
from coordinator.engine.context import RunContext
from coordinator.io.faults import crash_point
from coordinator.io.gitrepo import GitRepo
from coordinator.io.worktrees import Worktrees


def keep(ctx: RunContext, task_id: str, verdict: Verdict, *, detail: str = "") -> None:
    """Start the job that keeps the task's branch; ``detail`` is a longer reason to show."""
    state = verdict.state or TaskState.FAILED
    job = KeepJob(ctx.repo, ctx.worktrees, task_id, ctx.run_id, state, verdict.action == "retry")
    ctx.jobs.start("keep", task_id, lambda: Kept(job.run(), verdict, detail))


@dataclass(frozen=True)
class KeepJob:
    repo: GitRepo
    worktrees: Worktrees
    task_id: str
    run_id: str
    state: TaskState
    remove_worktree: bool

    def run(self) -> str:
        """Rename the task branch (a worktree on it follows); return the name it is kept as."""
        branch = task_branch(self.task_id)
        kept = first_free(
            lambda n: kept_branch(self.state.value, self.run_id, self.task_id, n),
            self.repo.branch_exists,
        )
        if self.repo.branch_exists(branch):
            self.repo.rename_branch(branch, kept)
        crash_point("after-branch-kept")
        if self.remove_worktree and not self.worktrees.release(self.task_id):
            self.worktrees.remove(self.task_id, force=False)
        return kept


@dataclass(frozen=True)
class Kept:
    branch: str
    verdict: Verdict
    detail: str

    def apply(self, ctx: RunContext, task_id: str, seconds: float) -> None:
        verdict = self.verdict
        if verdict.action == "retry" and ctx.stopping:  # stopped while its branch was kept
            verdict = Verdict("end", verdict.state, verdict.reason)
        if verdict.action == "retry":
            ctx.book.retried(task_id, kept=self.branch, reason=verdict.reason)
            return
        state = verdict.state or TaskState.FAILED
        ctx.book.ended(task_id, state, verdict.reason, branch=self.branch, detail=self.detail)
