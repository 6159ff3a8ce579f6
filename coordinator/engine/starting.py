"""Starting tasks: admission, the worktree job, its setup, then the agent, in an order recovery
can trust.

The store hears of each step before the next one can leave something behind: ``running`` (no
branch yet) before the worktree job; the branch, worktree, base and the files placed into the
worktree before the setup command or the agent exists; the agent's pid right after. A
coordinator killed between any two steps leaves a state recovery reads correctly (see
``coordinator.engine.recovery``).
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from coordinator.core.argv import render_argv
from coordinator.core.configtables import WorktreeConfig
from coordinator.core.decisions import (
    BEFORE_START,
    Completion,
    setup_failed,
    setup_runs,
)
from coordinator.core.models import TaskState
from coordinator.core.refs import first_free, kept_branch, task_branch
from coordinator.engine import admission, finishing, guarding, isolating, remote
from coordinator.engine.context import RunContext
from coordinator.engine.jobs import GateSwitch
from coordinator.engine.launch import command_env, launch_values, prepare_launch
from coordinator.io.agents import start_agent
from coordinator.io.clones import Recorded
from coordinator.io.faults import crash_point
from coordinator.io.gitrepo import GitRepo
from coordinator.io.placing import place
from coordinator.io.setupcmd import SetupResult, run_setup
from coordinator.io.worktrees import Base, Worktrees

# A task in one of these states, its agent done with success, hands its worktree back soon.
_RETURNING = frozenset({TaskState.DONE, TaskState.MERGING, TaskState.VERIFYING})


def start_ready(ctx: RunContext) -> None:
    """Start every task the policy allows now: a worktree job each, or adoption."""
    if ctx.budget:
        return  # the budget is used up: what had not started was skipped
    admit, why = admission.admits(ctx)
    counting = _usage_uncounted(ctx)
    if admit and counting:
        admit, why = False, f"[budget]: counting what {counting}'s agent used"
    # One transaction: an adopted task must never be seen ``running`` without its branch (a
    # coordinator killed between the two writes would leave its finished work unadoptable).
    with ctx.store.transaction() if ctx.adopt else contextlib.nullcontext():
        for task_id in ctx.book.next_starts(admit=admit, why=why):
            if task_id in ctx.adopt:
                _adopt(ctx, task_id)
            else:
                _prepare(ctx, task_id)


def _usage_uncounted(ctx: RunContext) -> str:
    """A task whose agent has ended but whose usage is not counted yet (its settle job reads
    it), when a budget is set: no task starts before it is, or one could start after the
    agent that crossed the budget (its slot frees at its marker, before its work is collected).
    """
    budget = ctx.config.budget
    if budget.max_cost_usd is None and budget.max_tokens is None:
        return ""
    return next((t for t, kind in ctx.jobs.running.items() if kind == "settle"), "")


def _prepare(ctx: RunContext, task_id: str) -> None:
    task = ctx.plan.task(task_id)
    sparse = None
    if ctx.config.checkout == "sparse" and not task.footprint.exclusive:
        sparse = task.footprint.patterns
    coming = sparse is None and (any(  # a finished task's worktree will soon be pooled
        t.state in _RETURNING and t.completion is not None and t.completion.ok and t.worktree
        and ctx.plan.task(t.id).isolation == isolating.WORKTREE
        for t in ctx.book
    ) or "pool" in ctx.jobs.running.values())  # or is being pooled (a dependency's, often)
    ctx.jobs.start(
        "worktree",
        task_id,
        lambda: make_worktree(
            ctx.repo, ctx.worktrees, task_id, base=lambda: ctx.shared.expected_target,
            run_id=ctx.run_id, sparse=sparse, setup=ctx.config.worktree,
            isolation=task.isolation, coming=coming,
        ),
    )  # fmt: skip


@dataclass(frozen=True)
class Prepared:
    """The worktree job's result: where the task works, from which commit, and what to say."""

    worktree: Path
    base: str
    branch: str
    notes: tuple[tuple[str, str], ...] = ()  # (event kind, message)
    placed: tuple[str, ...] = ()  # files copied or linked in by [worktree] copy and link
    fresh: bool = True  # a new worktree (not one reused warm): [worktree] setup runs in it
    recorded: Recorded | None = None  # a task clone's config, hooks and attributes as made
    waited: float = 0.0  # s spent waiting for another task's worktree to come back

    def apply(self, ctx: RunContext, task_id: str, seconds: float) -> None:
        ctx.rec.add_phase(task_id, "worktree", max(seconds - self.waited, 0.0))
        if self.waited:  # latency, not work: kept apart so the cost per task stays readable
            ctx.rec.add_phase(task_id, "pool_wait", self.waited)
        if self.recorded is not None:
            ctx.clone_records[task_id] = self.recorded
        for kind, message in self.notes:
            ctx.rec.emit(kind, task_id, message)
        run = ctx.book[task_id]
        ctx.book.worktree_ready(
            task_id, branch=self.branch, worktree=str(self.worktree), base=self.base,
            log=str(ctx.files.log(task_id, run.attempt)), placed=self.placed,
        )  # fmt: skip
        if ctx.stopping:
            stopped = Completion(False, "interrupted", BEFORE_START, end=TaskState.CANCELLED)
            finishing.complete(ctx, task_id, stopped)
            return
        isolating.before_launch(ctx, ctx.plan.task(task_id))  # a sandbox's own marker directory
        values = launch_values(
            ctx.plan.task(task_id), files=ctx.files, worktree=self.worktree,
            marker=ctx.watcher.marker_path(task_id), base=self.base, run_id=ctx.run_id,
            slot=run.slot, port=run.port, prompts=ctx.prompts,
        )  # fmt: skip
        setup = ctx.config.worktree
        remote = ctx.executor is not None  # the setup runs on the node, in its own clone
        if not remote and setup_runs(configured=bool(setup.setup), fresh=self.fresh,
                                     always=setup.setup_always):  # fmt: skip
            assert setup.setup is not None
            _start_setup(ctx, task_id, setup.setup, values)
        else:
            launch_agent(ctx, task_id, values)


def make_worktree(
    repo: GitRepo,
    worktrees: Worktrees,
    task_id: str,
    *,
    base: Base,
    run_id: str,
    sparse: Sequence[str] | None,
    setup: WorktreeConfig | None = None,
    isolation: str = isolating.WORKTREE,
    coming: bool = False,
) -> Prepared:
    """The job: a fresh worktree (or task clone) on a new task branch at ``base``, with the
    files of ``[worktree] copy`` and ``link`` placed into it.

    ``base`` is the target's head as the coordinator last wrote it, read when the worktree is
    in hand (a merge that landed meanwhile is in it; see ``Worktrees.take``): every merge the
    loop had recorded when the job started (a dependency's included) is in it; a value someone
    else put on the target never is. A clone is always a full checkout of its own and never
    comes from the warm pool.
    """
    branch = task_branch(task_id)
    notes = []
    if repo.branch_exists(branch):  # never reuse or delete an existing task branch
        aside = first_free(lambda n: kept_branch("old", run_id, task_id, n), repo.branch_exists)
        worktrees.remove(task_id, force=False)
        repo.rename_branch(branch, aside)
        notes.append(("kept", f"earlier branch {branch} kept as {aside}"))
    recorded, waited = None, 0.0
    if isolation == isolating.WORKTREE:
        worktree, fresh, base = worktrees.take(task_id, branch, base, sparse, coming=coming)
        waited = worktrees.waited.pop(task_id, 0.0)
    else:
        base = base if isinstance(base, str) else base()
        worktree, recorded = isolating.create_clone(repo, worktrees, task_id, branch, base)
        fresh = True
    crash_point("after-worktree-add")
    placed: tuple[str, ...] = ()
    if setup is not None and (setup.copy_files or setup.link):
        done = place(repo, worktree, copy=setup.copy_files, link=setup.link,
                     skip_dir=worktrees.worktrees_dir)  # fmt: skip
        placed = done.paths
        notes.extend(("warning", note) for note in done.notes)
    return Prepared(worktree, base, branch, tuple(notes), placed, fresh, recorded, waited)


def _start_setup(
    ctx: RunContext, task_id: str, template: Sequence[str], values: Mapping[str, str]
) -> None:
    """Run ``[worktree] setup`` as a job; the agent starts when it passes."""
    run = ctx.book[task_id]
    argv = render_argv(template, values)
    env = command_env(ctx.agent_config(task_id), values, run.attempt)
    switch = ctx.setups[task_id] = GateSwitch()
    log, timeout = ctx.files.log(task_id, run.attempt), ctx.config.worktree.setup_timeout
    worktree = Path(values["worktree"])
    ctx.book.setup_started(task_id, shlex.join(argv))

    def work() -> SetupDone:
        result = run_setup(argv, cwd=worktree, env=env, log=log, timeout=timeout,
                           on_start=switch.started)  # fmt: skip
        switch.ended()
        return SetupDone(result, dict(values))

    ctx.jobs.start("setup", task_id, work)


@dataclass(frozen=True)
class SetupDone:
    result: SetupResult
    values: Mapping[str, str]

    def apply(self, ctx: RunContext, task_id: str, seconds: float) -> None:
        ctx.rec.add_phase(task_id, "setup", seconds)
        ctx.setups.pop(task_id, None)
        if ctx.stopping:
            stopped = Completion(False, "interrupted", BEFORE_START, end=TaskState.CANCELLED)
            finishing.complete(ctx, task_id, stopped)
        elif not self.result.ok:
            ctx.rec.emit("setup-failed", task_id, self.result.detail)
            finishing.complete(ctx, task_id, setup_failed(self.result.detail))
        else:
            ctx.rec.emit("setup-done", task_id, f"in {self.result.seconds:.1f}s")
            launch_agent(ctx, task_id, self.values)


def launch_agent(ctx: RunContext, task_id: str, values: Mapping[str, str]) -> None:
    """Start the agent in its ready worktree (a Ctrl-C meanwhile: never start it)."""
    task = ctx.plan.task(task_id)
    run = ctx.book[task_id]
    agent = ctx.agent_config(task_id)
    log = ctx.files.log(task_id, run.attempt)
    launch = prepare_launch(task, agent=agent, values=values, attempt=run.attempt, log=log,
                            log_limit=ctx.config.log_limit)  # fmt: skip
    # The log holds the setup's output: say where the agent's starts (a node says it itself).
    if ctx.config.worktree.setup and ctx.executor is None:
        with log.open("ab") as out:
            out.write(f"[coordinator] ---- agent: {shlex.join(launch.argv)} ----\n".encode())
    launch = isolating.confine(ctx, task, launch)
    if any(mode != isolating.SANDBOX for mode in ctx.live.now().values()):
        # A change made so far is not this agent's: found now, it is pinned on those running.
        guarding.report(ctx, guarding.look(ctx)())
    ctx.live.add(task_id, task.isolation)
    with ctx.rec.timed(task_id, "start"):
        if ctx.executor is not None:
            proc = remote.start(ctx, ctx.executor, task_id, values)
        else:
            proc = start_agent(launch, ctx.events)  # type: ignore[arg-type]
    crash_point("agent-started")
    ctx.book.agent_started(task_id, proc)
    ctx.meter.watch(task_id, proc.pid, proc.create_time)
    finishing.arm_timeout(ctx, task_id)
    ctx.max_parallel = max(ctx.max_parallel, len(ctx.book.running_agents()))
    crash_point("agent-running")


def _adopt(ctx: RunContext, task_id: str) -> None:
    """Finished work from a coordinator that died: merge it without rerunning the agent."""
    found = ctx.adopt.pop(task_id)
    crash_point("adopting")
    ctx.book.adopted(
        task_id, branch=found.branch, worktree=str(found.worktree), base=found.base,
        log=found.log, summary=found.summary, from_run=found.from_run, placed=found.placed,
    )  # fmt: skip
    finishing.settle(ctx, task_id, stop_agent=False)
