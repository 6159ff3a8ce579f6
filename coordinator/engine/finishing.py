"""An agent's work ends (marker, exit, timeout, Ctrl-C): free its slot, stop it, collect it.

A done marker means done: the task's slot frees the moment the marker is read, and the settle
job sends the agent's whole process tree SIGTERM at once and SIGKILL ``grace`` seconds later if
anything is still alive (an agent that exited on its own only has its strays looked for). Then,
still in the job, what the agent left is committed and compared with its footprint. The loop
hears the result and decides whether the work lands (``coordinator.core.decisions``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from coordinator.core.config import Identity
from coordinator.core.decisions import (
    Completion,
    Verdict,
    after_collect,
    agent_retry,
    budget_left,
    by_exit,
    by_marker,
    stop_grace,
    tampered,
    task_timeout,
    timed_out,
)
from coordinator.core.footprint import violations as footprint_violations
from coordinator.core.usage import Resources, Usage
from coordinator.core.usagereaders import read_usage
from coordinator.engine import admission, ending, guarding
from coordinator.engine.context import RunContext, Timer
from coordinator.io.agents import AgentExited, AgentProcess, kill_task_processes
from coordinator.io.clones import collect_clone, refuse_unsafe_links
from coordinator.io.faults import crash_point
from coordinator.io.gitisolation import changes_and_symlinks
from coordinator.io.gitrepo import GitRepo
from coordinator.io.markers import MarkerContent, MarkerSeen, read_marker
from coordinator.io.resources import ResourceMeter
from coordinator.io.shared_state import Finding
from coordinator.io.workcheck import CheckoutGuard, WorkCheck, collect_work

MARKER_SETTLE = 0.2  # seconds an empty marker must stay empty to mean "done"


def on_marker(ctx: RunContext, event: MarkerSeen, *, settled: bool = False) -> None:
    task = ctx.book.tasks.get(event.task_id)
    if task is None or not task.agent_running:
        return
    content = read_marker(event.path)
    if content is None or not content.valid:
        return  # absent, or seen mid-write: the next event or the exit decides
    if not settled and _is_empty(event.path):
        # An empty file is "done", but a JSON write in progress also starts empty:
        # look again shortly (or on the next event) before believing it.
        ctx.add_timer(time.time() + MARKER_SETTLE, Timer("settle", task.id, task.attempt))
        return
    ctx.rec.note_marker_latency(task.id, event.path)
    _usage_problem(ctx, task.id, content)
    complete(ctx, task.id, by_marker(content))
    crash_point("after-marker-seen")


def on_exit(ctx: RunContext, event: AgentExited) -> None:
    task = ctx.book.tasks.get(event.task_id)
    if task is None or task.proc is None or task.proc.pid != event.pid:
        return  # not this attempt's agent: an earlier one's exit, reported late
    ctx.book.update(task.id, exited=True)
    if task.completion is not None:
        return  # its marker was read first; the settle job is stopping what is left
    marker = ctx.watcher.marker_path(task.id)
    content = read_marker(marker)
    if content is not None and content.valid:
        ctx.rec.note_marker_latency(task.id, marker)
        _usage_problem(ctx, task.id, content)
    complete(ctx, task.id, by_exit(content, event.returncode, event.error))
    if content is not None and content.valid:
        crash_point("after-marker-seen")


def _usage_problem(ctx: RunContext, task_id: str, content: MarkerContent) -> None:
    if content.usage_error:
        ctx.rec.emit("warning", task_id, f"the marker's usage was not read: {content.usage_error}")


def arm_timeout(ctx: RunContext, task_id: str, extra: float = 0.0) -> None:
    """Start (or restart) the clock of the task's ``timeout`` from now (plus ``extra``: a
    setup on the node still to run, whose end restarts the clock).

    A remote agent's clock restarts when its node reports it started: the cluster's scheduling
    and the node's clone are not the agent's time, and on a busy cluster they can eat all of it.
    """
    task = ctx.book[task_id]
    timeout = task_timeout(ctx.plan.task(task_id).spec.timeout, ctx.agent_config(task_id).timeout)
    if timeout is None:
        return
    deadline = time.time() + timeout + extra
    ctx.book.update(task_id, timeout_at=deadline)
    ctx.add_timer(deadline, Timer("timeout", task_id, task.attempt))


def on_timer(ctx: RunContext, timer: Timer) -> None:
    if timer.kind == "admission":
        admission.on_recheck(ctx)  # the loop looks at the machine again next
        return
    if timer.kind == "retry":
        ending.retry_due(ctx, timer.task_id)
        return
    task = ctx.book.tasks.get(timer.task_id)
    if task is None or task.attempt != timer.attempt or not task.agent_running:
        return
    if timer.kind == "timeout":
        if task.timeout_at is not None and time.time() < task.timeout_at:
            return  # the clock was restarted: a later timer is armed
        complete(ctx, task.id, timed_out())
    elif timer.kind == "tampered":
        complete(ctx, task.id, tampered())
    elif timer.kind == "settle":
        path = ctx.watcher.marker_path(task.id)
        on_marker(ctx, MarkerSeen(task.id, path, time.time()), settled=True)


def complete(ctx: RunContext, task_id: str, completion: Completion) -> None:
    """The agent's work is over: record it (its slot frees now), then stop and collect it."""
    retry = agent_retry(
        completion, failures=ctx.book[task_id].failures,
        retries=ctx.agent_config(task_id).retries, stopping=ctx.stopping or bool(ctx.budget),
    )  # fmt: skip
    ctx.book.agent_finished(task_id, completion, retry=retry)
    settle(ctx, task_id, stop_agent=True)


def settle(ctx: RunContext, task_id: str, *, stop_agent: bool) -> None:
    """Start the settle job: stop the agent's processes (unless adopted), collect its work."""
    task = ctx.book[task_id]
    spec = ctx.plan.task(task_id).spec
    completion = task.completion
    assert completion is not None and task.worktree and task.branch and task.base
    message = f"{spec.title or task_id}\n\nWork of task {task_id} left uncommitted."
    if not completion.ok:
        message = f"WIP {task_id}: work left by the agent ({completion.reason})"
    grace = stop_grace(ctx.agent_config(task_id).grace, ctx.config.grace, hard=ctx.hard.is_set())
    job = SettleJob(
        ctx.repo, task_id, ctx.run_id, task.proc if stop_agent else None, stop_agent, grace,
        Path(task.worktree), task.branch, task.base, ctx.config.identity, message,
        ctx.checkout, ctx.checkout_lock, tuple(task.placed), ctx.meter,
        ctx.config.usage_format(task.agent), Path(task.log) if task.log else None,
        guarding.look(ctx, task_id), ctx.plan.task(task_id).isolation,
        ctx.files.root / f"index-{task_id}",
    )  # fmt: skip
    ctx.jobs.start("settle", task_id, job.run)


@dataclass(frozen=True)
class SettleJob:
    """Everything the settle job needs, as values and thread-safe doors."""

    repo: GitRepo
    task_id: str
    run_id: str
    proc: AgentProcess | None
    stop_agent: bool
    grace: float
    worktree: Path
    branch: str
    base: str
    identity: Identity
    message: str
    checkout: CheckoutGuard
    checkout_lock: threading.Lock
    placed: tuple[str, ...]
    meter: ResourceMeter
    usage_format: str | None
    log: Path | None
    look: guarding.Look  # the shared state, once the agent is dead and before its work is read
    isolation: str = "worktree"
    scratch_index: Path | None = None  # a task clone's files are staged through this index

    def run(self) -> Settled:
        started = time.perf_counter()
        killed: list[int] = []
        if self.stop_agent:
            killed = kill_task_processes(self.proc, self.task_id, self.run_id, timeout=self.grace)
        crash_point("agent-stopped")
        findings = self.look()
        resources = self._resources()
        usage = self._usage()
        stopped = time.perf_counter()
        if self.isolation == "worktree" or self.scratch_index is None:
            check = collect_work(
                self.repo, worktree=self.worktree, branch=self.branch, base=self.base,
                identity=self.identity, message=self.message, keep_out=self.placed,
            )  # fmt: skip
        else:
            check = collect_clone(
                self.repo, clone=self.worktree, branch=self.branch, base=self.base,
                identity=self.identity, message=self.message, index=self.scratch_index,
                keep_out=self.placed,
            )  # fmt: skip
        crash_point("after-commit")
        changed, links = changes_and_symlinks(self.repo, self.base, check.head)
        check = refuse_unsafe_links(self.repo, check, changed, links)
        collected = time.perf_counter()
        with self.checkout_lock:
            touched = self.checkout.changes()
        return Settled(check, changed, touched, killed, stopped - started, collected - stopped,
                       usage, resources, tuple(findings),
                       guard_seconds=time.perf_counter() - collected)  # fmt: skip

    def _resources(self) -> Resources:
        """What the agent's tree used: the samples, and ``wait4``'s word once it is reaped."""
        rusage = None
        if self.proc is not None and self.proc.pid is not None:
            self.proc.wait(timeout=2.0)  # its waiter reaps it the moment it is dead
            rusage = self.proc.rusage
        cpu, rss = rusage if rusage is not None else (None, None)
        return self.meter.finish(self.task_id, cpu_seconds=cpu, max_rss=rss)

    def _usage(self) -> Usage | None:
        """Tokens and cost as the agent's CLI printed them into its log, if it does."""
        if self.usage_format is None or self.log is None:
            return None
        try:
            text = self.log.read_bytes().decode("utf-8", "replace")
        except OSError:
            return None
        return read_usage(self.usage_format, text)


@dataclass(frozen=True)
class Settled:
    """The settle job's result: the work, what changed, and what the job had to do."""

    check: WorkCheck
    changed: list[str]
    touched: list[str]  # paths of the user's checkout that changed meanwhile
    killed: list[int]
    stop_seconds: float
    collect_seconds: float
    usage: Usage | None  # read from the agent's output
    resources: Resources
    findings: tuple[Finding, ...] = ()
    guard_seconds: float = 0.0  # the look at the user's checkout

    def apply(self, ctx: RunContext, task_id: str, seconds: float) -> None:
        ctx.rec.add_phase(task_id, "stop", self.stop_seconds)
        ctx.rec.add_phase(task_id, "commit", self.collect_seconds)
        ctx.rec.add_phase(task_id, "guard", self.guard_seconds)
        # What the job found, written in one transaction; nothing in it starts a job, so the
        # store has it all before the keep job (or the merge lane) acts on it.
        with ctx.rec.storing(task_id):
            verdict = self._record(ctx, task_id)
        if verdict.action == "land":
            crash_point("merge-queued")
        else:
            ending.keep(ctx, task_id, verdict)

    def _record(self, ctx: RunContext, task_id: str) -> Verdict:
        guarding.report(ctx, self.findings)
        task = ctx.book[task_id]
        said = task.completion.usage if task.completion else None
        ctx.book.attempt_used(task_id, (self.usage or Usage()).overlay(said or Usage()),
                              self.resources)  # fmt: skip
        ctx.book.settled(task_id)
        check_budget(ctx)
        completion = ctx.book[task_id].completion
        assert completion is not None
        if self.killed:
            why = " after its done marker" if completion.ok and completion.how == "marker" else ""
            message = f"terminated {len(self.killed)} processes{why}"
            ctx.rec.emit("killed", task_id, message, pids=self.killed)
        for note in self.check.notes:
            ctx.rec.emit("warning", task_id, note)
        if self.touched:
            touched = ", ".join(self.touched)
            warning = f"YOUR CHECKOUT CHANGED while this task ran (not undone): {touched}"
            ctx.rec.emit("warning", task_id, warning, paths=self.touched)
        changed = self.changed
        violations = footprint_violations(ctx.plan.task(task_id).footprint, changed)
        ctx.book.collected(task_id, head=self.check.head, changed=changed, violations=violations)
        if violations:
            ctx.rec.emit(
                "violation", task_id,
                "changed outside its footprint: " + ", ".join(violations)
                + " (by its agent, or another agent may have written into its worktree)",
                paths=violations,
            )  # fmt: skip
        verdict = after_collect(
            completion, work_ok=self.check.ok, work_reason=self.check.reason,
            violations=violations, on_violation=ctx.config.on_violation,
            retry=task.retrying and not ctx.stopping and not ctx.budget,
            tampered=guarding.is_tampered(ctx, task_id),
        )  # fmt: skip
        if verdict.action == "land":
            ctx.book.merging(task_id)
        return verdict


def check_budget(ctx: RunContext) -> None:
    """Once the run's total reaches ``[budget]``, nothing more starts (see ``decisions``)."""
    budget = ctx.config.budget
    if ctx.budget or (budget.max_cost_usd is None and budget.max_tokens is None):
        return
    why = budget_left(ctx.book.total_usage(), max_cost_usd=budget.max_cost_usd,
                      max_tokens=budget.max_tokens)  # fmt: skip
    if why:
        ctx.budget = why
        ctx.rec.emit("budget", None, f"{why}: no new task starts; running ones finish")
        ctx.book.budget_stop(why)
        ending.give_up_retries(ctx)


def _is_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False
