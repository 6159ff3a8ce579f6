"""Starting tasks: admission, the worktree job, then the agent, in an order recovery can trust.

The store hears of each step before the next one can leave something behind: ``running`` (no
branch yet) before the worktree job; the branch, worktree and base before the agent exists; its
pid right after. A coordinator killed between any two steps leaves a state recovery reads
correctly (see ``coordinator.engine.recovery``).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from coordinator.core.decisions import BEFORE_START, Completion, task_timeout
from coordinator.core.models import TaskState
from coordinator.core.refs import first_free, kept_branch, task_branch
from coordinator.engine import finishing
from coordinator.engine.context import RunContext, Timer
from coordinator.engine.launch import prepare_launch
from coordinator.io.agents import start_agent
from coordinator.io.faults import crash_point
from coordinator.io.gitrepo import GitRepo
from coordinator.io.worktrees import Worktrees

ADMISSION_RECHECK = 2.0  # seconds between looks at free disk while starts are held back


def start_ready(ctx: RunContext) -> None:
    """Start every task the policy allows now: a worktree job each, or adoption."""
    admit, why = _disk_admits(ctx)
    for task_id in ctx.book.next_starts(admit=admit, why=why):
        if task_id in ctx.adopt:
            _adopt(ctx, task_id)
        else:
            _prepare(ctx, task_id)
    if why != ctx.admission:
        ctx.admission = why
        if why:
            ctx.rec.emit("waiting", None, why)
    if not admit and not ctx.admission_timer:
        # Nothing else may ever happen (no agent running): look at the disk again later.
        ctx.admission_timer = True
        ctx.add_timer(time.time() + ADMISSION_RECHECK, Timer("admission", "", 0))


def _disk_admits(ctx: RunContext) -> tuple[bool, str]:
    directory = ctx.project.root / ctx.config.worktrees
    probe = directory if directory.exists() else ctx.project.root
    free = shutil.disk_usage(probe).free
    if free < ctx.config.min_free_disk:
        return False, (
            f"free disk {free // 2**20} MiB under {directory} is below min_free_disk "
            f"{ctx.config.min_free_disk // 2**20} MiB"
        )
    return True, ""


def _prepare(ctx: RunContext, task_id: str) -> None:
    task = ctx.plan.task(task_id)
    sparse = None
    if ctx.config.checkout == "sparse" and not task.footprint.exclusive:
        sparse = task.footprint.patterns
    ctx.jobs.start(
        "worktree",
        task_id,
        lambda: make_worktree(
            ctx.repo, ctx.worktrees, task_id, target_ref=ctx.target_ref, run_id=ctx.run_id,
            sparse=sparse,
        ),
    )  # fmt: skip


@dataclass(frozen=True)
class Prepared:
    """The worktree job's result: where the task works, from which commit, and what to say."""

    worktree: Path
    base: str
    branch: str
    notes: tuple[tuple[str, str], ...] = ()  # (event kind, message)

    def apply(self, ctx: RunContext, task_id: str, seconds: float) -> None:
        ctx.rec.add_phase(task_id, "worktree", seconds)
        for kind, message in self.notes:
            ctx.rec.emit(kind, task_id, message)
        launch_agent(ctx, task_id, self)


def make_worktree(
    repo: GitRepo,
    worktrees: Worktrees,
    task_id: str,
    *,
    target_ref: str,
    run_id: str,
    sparse: Sequence[str] | None,
) -> Prepared:
    """The job: a fresh worktree on a new task branch at the target's current head.

    The head is read here, not when the job was asked for: every merge the loop has recorded
    (a dependency's included) is in it, and a target moved by someone else is respected.
    """
    base = repo.rev_parse(target_ref)
    if base is None:
        raise RuntimeError(f"the target {target_ref} disappeared during the run")
    branch = task_branch(task_id)
    notes = []
    if repo.branch_exists(branch):  # never reuse or delete an existing task branch
        aside = first_free(lambda n: kept_branch("old", run_id, task_id, n), repo.branch_exists)
        worktrees.remove(task_id, force=False)
        repo.rename_branch(branch, aside)
        notes.append(("kept", f"earlier branch {branch} kept as {aside}"))
    worktree = worktrees.create(task_id, branch, base, sparse=sparse)
    crash_point("after-worktree-add")
    return Prepared(worktree, base, branch, tuple(notes))


def launch_agent(ctx: RunContext, task_id: str, prepared: Prepared) -> None:
    """Start the agent in its new worktree (a Ctrl-C meanwhile: never start it)."""
    task = ctx.plan.task(task_id)
    run = ctx.book[task_id]
    log = ctx.files.log(task_id, run.attempt)
    ctx.book.worktree_ready(
        task_id, branch=prepared.branch, worktree=str(prepared.worktree), base=prepared.base,
        log=str(log),
    )  # fmt: skip
    if ctx.stopping:
        stopped = Completion(False, "interrupted", BEFORE_START, end=TaskState.CANCELLED)
        finishing.complete(ctx, task_id, stopped)
        return
    agent = ctx.agent_config(task_id)
    launch = prepare_launch(
        task, agent=agent, files=ctx.files, worktree=prepared.worktree,
        marker=ctx.watcher.marker_path(task_id), base=prepared.base, run_id=ctx.run_id,
        attempt=run.attempt, log=log, log_limit=ctx.config.log_limit, prompts=ctx.prompts,
    )  # fmt: skip
    with ctx.rec.timed(task_id, "start"):
        proc = start_agent(launch, ctx.events)  # type: ignore[arg-type]
    crash_point("agent-started")
    ctx.book.agent_started(task_id, proc)
    timeout = task_timeout(task.spec.timeout, agent.timeout)
    if timeout is not None:
        ctx.add_timer(time.time() + timeout, Timer("timeout", task_id, run.attempt))
    ctx.max_parallel = max(ctx.max_parallel, len(ctx.book.running_agents()))
    crash_point("agent-running")


def _adopt(ctx: RunContext, task_id: str) -> None:
    """Finished work from a coordinator that died: merge it without rerunning the agent."""
    found = ctx.adopt.pop(task_id)
    ctx.book.adopted(
        task_id, branch=found.branch, worktree=str(found.worktree), base=found.base,
        log=found.log, summary=found.summary, from_run=found.from_run,
    )  # fmt: skip
    finishing.settle(ctx, task_id, stop_agent=False)
