"""The run engine: one thread, one event queue, the policy deciding, adapters doing.

Background threads (the marker watcher, one waiter per agent, log pumps) and signal handlers
only put events on ``self.events``; this loop takes them one at a time, asks the scheduler
what to start, and merges finished work. Every git call happens on this thread.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import queue
import shutil
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from coordinator.core.footprint import violations as footprint_violations
from coordinator.core.models import TASK_BRANCH_PREFIX as TASK_BRANCH
from coordinator.core.models import TaskState
from coordinator.core.plan import Plan
from coordinator.core.policy import Scheduler
from coordinator.core.replan import Replanner
from coordinator.display import Reporter, RunSummary
from coordinator.errors import EXIT_OK
from coordinator.faults import crash_point
from coordinator.history import TRAILER_DIGEST
from coordinator.io.agents import (
    AgentExited,
    AgentProcess,
    become_subreaper,
    kill_task_processes,
    start_agent,
)
from coordinator.io.gitrepo import GitRepo
from coordinator.io.markers import MarkerSeen, MarkerWatcher, read_marker
from coordinator.io.merger import SUMMARY_PREFIX, build_merge_message, merge_task
from coordinator.io.store import Store
from coordinator.io.verify import verify_commit
from coordinator.io.workcheck import CheckoutGuard, collect_work, foreign_refs, ref_snapshot
from coordinator.io.worktrees import Worktrees
from coordinator.launch import prepare_launch
from coordinator.project import Project
from coordinator.recorder import Recorder
from coordinator.recovery import Adopted
from coordinator.runfiles import RunFiles
from coordinator.stopping import StopRequest, stop_on_signals

MERGE_ATTEMPTS = 3
MARKER_SETTLE = 0.2  # seconds an empty marker must stay empty to mean "done"
ADMISSION_RECHECK = 2.0  # seconds between looks at free disk while starts are held back


@dataclass(frozen=True)
class Interrupt:
    """Ctrl-C or SIGTERM; ``hard`` is the second one: kill at once."""

    hard: bool


@dataclass(frozen=True)
class Timer:
    kind: str  # "timeout", "grace", "settle", or "admission" (task_id "": look at the disk)
    task_id: str
    attempt: int


@dataclass(frozen=True)
class Work:
    """Where a task's work is: its branch, worktree and the commit it started from."""

    task_id: str
    branch: str
    worktree: Path
    base: str


@dataclass
class Active:
    """A task whose agent was started in this run and is not finalized yet."""

    task_id: str
    attempt: int
    branch: str
    worktree: Path
    base: str
    log: Path
    proc: AgentProcess
    started_at: float
    outcome: str | None = None  # "done" or "failed" once completion is observed
    reason: str = ""
    summary: str = ""
    finished_at: float | None = None
    exited: bool = False


NO_CHANGES = "no changes"


class Engine:
    """Runs one plan to completion (or interruption) against one repository."""

    def __init__(
        self,
        project: Project,
        plan: Plan,
        repo: GitRepo,
        store: Store,
        reporter: Reporter,
        *,
        run_id: str,
        target: str,
        instances: int,
        already_merged: dict[str, str],
        adopt: Mapping[str, Adopted] | None = None,
        stop: StopRequest | None = None,
    ) -> None:
        self.project = project
        self.config = project.config
        self.plan = plan
        self.repo = repo
        self.store = store
        self.reporter = reporter
        self.run_id = run_id
        self.target = target
        self.target_ref = f"refs/heads/{target}"
        self.instances = instances
        self.events: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.files = RunFiles.create(repo.git_dir, run_id)
        self.worktrees = Worktrees(repo, self.config.worktrees)
        caps = {name: self.config.agent_cap(name) for name in self.config.agents}
        self.scheduler = Scheduler(plan, instances=instances, caps=caps, merged=already_merged)
        self.replanner = Replanner(plan, instances=instances, caps=caps)
        self.rec = Recorder(plan, store, reporter, run_id)
        for task_id, commit in already_merged.items():
            if task_id in self.rec.outcomes:
                self.rec[task_id].state = TaskState.MERGED
                self.rec[task_id].merge_commit = commit
        self.active: dict[str, Active] = {}
        self.mergeable: set[str] = set()
        self.timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self.stopping = False
        self.hard_stop = False
        self.admission = ""  # why new starts are held back, "" when they are not
        self.admission_timer = False  # a recheck of the disk is scheduled
        self.adopt: dict[str, Adopted] = dict(adopt or {})
        self.max_parallel = 0
        self.watcher = MarkerWatcher(self.files.markers, self.events)  # type: ignore[arg-type]
        self.refs_at_start = ref_snapshot(repo)
        self.checkout = CheckoutGuard(repo)
        self.checkout.snapshot()
        self.stop = stop
        self.gate_pid: int | None = None  # the merge gate's command while it runs

    # ----------------------------------------------------------------- the loop
    def run(self) -> RunSummary:
        started = time.time()
        self.reporter.start(self.run_id, self.target, len(self.plan.tasks))
        become_subreaper()
        self.watcher.start()
        if self.stop is not None:
            self.stop.attach(self.request_stop)
        try:
            with stop_on_signals(self.request_stop):
                self._loop()
        finally:
            if self.stop is not None:
                self.stop.detach()
            self.watcher.stop()
        moved = foreign_refs(self.refs_at_start, ref_snapshot(self.repo))
        for ref in (r for r in moved if r != self.target_ref):  # a --target of any name is ours
            self.rec.emit(
                "warning",
                None,
                f"{ref} was created, moved or deleted during the run by "
                "something other than the coordinator; left as it is",
            )
        summary = self.rec.summary(time.time() - started, self.target, self.max_parallel)
        self.store.finish_run(
            self.run_id,
            state="finished" if summary.exit_code == EXIT_OK else "incomplete",
            finished_at=time.time(),
            summary=summary.as_dict(),
        )
        self.reporter.summary(summary)
        return summary

    def _loop(self) -> None:
        while True:
            self._merge_ready()  # first: a merge can make dependents ready to start
            if not self.stopping:
                self._start_ready()
                if self.mergeable:
                    continue  # adopted work is ready to merge without any new event
            self.rec.refresh(self.scheduler.waiting_reasons())
            if self._finished():
                return
            self._handle(self._next_event())

    def _finished(self) -> bool:
        if self.active or self.mergeable:
            return False
        return self.stopping or self.scheduler.done()

    def _next_event(self) -> object:
        while True:
            timeout = None
            if self.timers:
                timeout = max(0.0, self.timers[0][0] - time.time())
                if timeout == 0.0:
                    return heapq.heappop(self.timers)[2]
            try:
                return self.events.get(timeout=timeout)
            except queue.Empty:
                continue

    def _handle(self, event: object) -> None:
        if isinstance(event, MarkerSeen):
            self._on_marker(event)
        elif isinstance(event, AgentExited):
            self._on_exit(event)
        elif isinstance(event, Timer):
            self._on_timer(event)
        elif isinstance(event, Interrupt):
            self._on_interrupt(event)

    # ----------------------------------------------------------------- starting
    def _start_ready(self) -> None:
        admit, why = self._disk_admits()
        now = time.time()
        elapsed = {t: now - a.started_at for t, a in self.active.items() if a.outcome is None}
        self.replanner.update(self.scheduler, elapsed)  # a new order once estimates prove wrong
        for task_id in self.scheduler.next_starts(admit=admit, why=why):
            if task_id in self.adopt:
                self._adopt(task_id)
            else:
                self._launch(task_id)
        if why != self.admission:
            self.admission = why
            if why:
                self.rec.emit("waiting", None, why)
        if not admit and not self.admission_timer:
            # Nothing else may ever happen (no agent running): look at the disk again later.
            self.admission_timer = True
            self._add_timer(time.time() + ADMISSION_RECHECK, Timer("admission", "", 0))
        working = sum(1 for a in self.active.values() if a.outcome is None)
        self.max_parallel = max(self.max_parallel, working)

    def _disk_admits(self) -> tuple[bool, str]:
        directory = self.project.root / self.config.worktrees
        probe = directory if directory.exists() else self.project.root
        free = shutil.disk_usage(probe).free
        if free < self.config.min_free_disk:
            return False, (
                f"free disk {free // 2**20} MiB under {directory} is below min_free_disk "
                f"{self.config.min_free_disk // 2**20} MiB"
            )
        return True, ""

    def _launch(self, task_id: str) -> None:
        task = self.plan.task(task_id)
        attempt = self.scheduler.attempt(task_id)
        base = self.repo.rev_parse(self.target_ref)
        assert base is not None
        branch = TASK_BRANCH + task_id
        self._set_aside(branch)
        with self.rec.timed(task_id, "worktree"):
            sparse = None
            if self.config.checkout == "sparse" and not task.footprint.exclusive:
                sparse = task.footprint.patterns
            worktree = self.worktrees.create(task_id, branch, base, sparse=sparse)
        crash_point("after-worktree-add")
        agent = self.config.agents[task.agent]
        log = self.files.log(task_id, attempt)
        launch = prepare_launch(
            task,
            agent=agent,
            files=self.files,
            worktree=worktree,
            marker=self.watcher.marker_path(task_id),
            base=base,
            run_id=self.run_id,
            attempt=attempt,
            log=log,
            log_limit=self.config.log_limit,
        )
        now = time.time()
        # Recorded as running before the agent exists: a coordinator killed in between leaves
        # a task that recovery checks (and whose agent, if any, it finds by environment).
        self.rec.record(
            task_id,
            state=TaskState.RUNNING.value,
            attempt=attempt,
            started_at=now,
            finished_at=None,
            branch=branch,
            worktree=str(worktree),
            base=base,
            log=str(log),
            pid=None,
            pid_create_time=None,
        )
        with self.rec.timed(task_id, "start"):
            proc = start_agent(launch, self.events)  # type: ignore[arg-type]
        crash_point("agent-started")
        self.rec.record(task_id, pid=proc.pid, pid_create_time=proc.create_time)
        self.active[task_id] = Active(task_id, attempt, branch, worktree, base, log, proc, now)
        outcome = self.rec[task_id]
        outcome.state = TaskState.RUNNING
        outcome.attempt = attempt
        outcome.branch = branch
        outcome.worktree = str(worktree)
        outcome.log = str(log)
        outcome.started_at = now
        outcome.finished_at = None
        timeout = task.spec.timeout if task.spec.timeout is not None else agent.timeout
        if timeout is not None:
            self._add_timer(now + timeout, Timer("timeout", task_id, attempt))
        self.store.add_attempt(
            self.run_id, task_id, attempt, started_at=now, branch=branch, base=base
        )
        self.rec.emit("started", task_id, f"attempt {attempt} in {worktree}", pid=proc.pid)
        crash_point("agent-running")

    def _set_aside(self, branch: str) -> None:
        """Never reuse or delete an existing task branch: rename it out of the way."""
        if not self.repo.branch_exists(branch):
            return
        task_id = branch.removeprefix(TASK_BRANCH)
        aside = f"coordinator/old/{self.run_id}/{task_id}"
        n = 1
        while self.repo.branch_exists(aside):
            n += 1
            aside = f"coordinator/old/{self.run_id}-{n}/{task_id}"
        self.worktrees.remove(task_id, force=False)
        self.repo.rename_branch(branch, aside)
        self.rec.emit("kept", task_id, f"earlier branch {branch} kept as {aside}")

    # --------------------------------------------------------------- completion
    def _on_marker(self, event: MarkerSeen, *, settled: bool = False) -> None:
        active = self.active.get(event.task_id)
        if active is None or active.outcome is not None:
            return
        content = read_marker(event.path)
        if content is None or not content.valid:
            return  # absent, or seen mid-write: the next event or the exit decides
        if not settled and _is_empty(event.path):
            # An empty file is "done", but a JSON write in progress also starts empty:
            # look again shortly (or on the next event) before believing it.
            self._add_timer(
                time.time() + MARKER_SETTLE, Timer("settle", active.task_id, active.attempt)
            )
            return
        self.rec.note_marker_latency(active.task_id, event.path)
        self._complete(active, content.status, content.summary, "marker")
        crash_point("after-marker-seen")
        if not active.exited:
            grace = self.config.agents[self.plan.task(active.task_id).agent].grace
            delay = grace if grace is not None else self.config.grace
            self._add_timer(time.time() + delay, Timer("grace", active.task_id, active.attempt))

    def _on_exit(self, event: AgentExited) -> None:
        active = self.active.get(event.task_id)
        if active is None:
            return
        active.exited = True
        if active.outcome is None:
            marker = self.watcher.marker_path(active.task_id)
            content = read_marker(marker)
            if content is not None and content.valid:
                self.rec.note_marker_latency(active.task_id, marker)
                self._complete(active, content.status, content.summary, "marker")
                crash_point("after-marker-seen")
            elif content is not None:
                self._complete(active, "failed", "", f"marker is not valid: {content.error}")
            elif event.returncode == 0:
                self._complete(active, "done", "", "exit 0")
            else:
                self._complete(active, "failed", "", f"exit code {event.returncode}")
        self._finalize(active)

    def _on_timer(self, timer: Timer) -> None:
        if timer.kind == "admission":
            self.admission_timer = False  # the loop checks the disk again next
            return
        active = self.active.get(timer.task_id)
        if active is None or active.attempt != timer.attempt:
            return
        if timer.kind == "timeout" and active.outcome is None:
            self._complete(active, "failed", "", "timeout")
            self._finalize(active)
        elif timer.kind == "grace" and active.outcome is not None:
            self._finalize(active)
        elif timer.kind == "settle" and active.outcome is None:
            path = self.watcher.marker_path(active.task_id)
            self._on_marker(MarkerSeen(active.task_id, path, time.time()), settled=True)

    def _complete(self, active: Active, status: str, summary: str, how: str) -> None:
        """The agent's work is over (marker, exit or timeout): its slot frees now."""
        now = time.time()
        active.outcome = "done" if status == "done" else "failed"
        active.summary = summary
        if active.outcome == "failed":
            active.reason = "the agent reported failure" if how == "marker" else how
        else:
            active.reason = ""
        active.finished_at = now
        outcome = self.rec[active.task_id]
        outcome.finished_at = now
        outcome.agent_time += now - active.started_at
        self.rec.record(active.task_id, finished_at=now, summary=summary, reason=active.reason)
        self.store.finish_attempt(
            self.run_id,
            active.task_id,
            active.attempt,
            finished_at=now,
            outcome=active.outcome,
            reason=active.reason or None,
        )
        if active.outcome == "done":
            self.replanner.finished(active.task_id, now - active.started_at)
            self.scheduler.agent_finished(active.task_id, ok=True)
            self.rec.emit("finished", active.task_id, f"agent done ({how})", summary=summary)
        else:
            skipped = self.scheduler.agent_finished(active.task_id, ok=False)
            self.rec.emit("agent-failed", active.task_id, active.reason, summary=summary)
            self._record_skipped(skipped, active.task_id)

    def _finalize(self, active: Active, *, end: TaskState = TaskState.FAILED) -> None:
        """Stop the agent's whole tree, then settle its work (``end``: state if not done)."""
        timeout = 0.0 if self.hard_stop else 3.0
        killed = kill_task_processes(active.proc, active.task_id, self.run_id, timeout=timeout)
        if killed:
            self.rec.emit(
                "killed", active.task_id, f"terminated {len(killed)} processes", pids=killed
            )
        del self.active[active.task_id]
        self._settle(
            Work(active.task_id, active.branch, active.worktree, active.base),
            done=active.outcome == "done",
            reason=active.reason,
            summary=active.summary,
            end=end,
        )

    def _settle(self, work: Work, *, done: bool, reason: str, summary: str, end: TaskState) -> None:
        """Commit what the agent left, check its footprint, and queue it for the merger."""
        task = self.plan.task(work.task_id)
        outcome = self.rec[task.id]
        message = f"{task.spec.title or task.id}\n\nWork of task {task.id} left uncommitted."
        if not done:
            message = f"WIP {task.id}: work left by the agent ({reason})"
        with self.rec.timed(task.id, "commit"):
            check = collect_work(
                self.repo,
                worktree=work.worktree,
                branch=work.branch,
                base=work.base,
                identity=self.config.identity,
                message=message,
            )
            crash_point("after-commit")
            head = check.head
            changed = self.repo.changed_files(work.base, head)
        for note in check.notes:
            self.rec.emit("warning", task.id, note)
        if touched := self.checkout.changes():
            self.rec.emit(
                "warning",
                task.id,
                "YOUR CHECKOUT CHANGED while this task ran (not undone): " + ", ".join(touched),
                paths=touched,
            )
        violations = footprint_violations(task.footprint, changed)
        outcome.extra.update(
            changed_files=changed, violations=violations, summary=summary, head=head
        )
        self.rec.record(
            task.id,
            changed_files=changed,
            violations=violations,
            predicted_files=list(task.footprint.patterns),
        )
        if violations:
            self.rec.emit(
                "violation",
                task.id,
                "changed outside its footprint: "
                + ", ".join(violations)
                + " (by its agent, or another agent may have written into its worktree)",
                paths=violations,
            )
        if not done:
            self._end_unmerged(task.id, end, reason)
        elif not check.ok:
            self._give_up(task.id, TaskState.FAILED, check.reason)
        elif violations and self.config.on_violation == "fail":
            self._give_up(task.id, TaskState.FAILED, "footprint violation")
        else:
            outcome.state = TaskState.DONE
            self.rec.record(task.id, state=TaskState.DONE.value)
            self.mergeable.add(task.id)

    def _adopt(self, task_id: str) -> None:
        """Finished work from a coordinator that died: merge it without rerunning the agent."""
        found = self.adopt.pop(task_id)
        now = time.time()
        outcome = self.rec[task_id]
        outcome.state = TaskState.RUNNING
        outcome.attempt = self.scheduler.attempt(task_id)
        outcome.branch = found.branch
        outcome.worktree = str(found.worktree)
        outcome.log = found.log
        outcome.started_at = outcome.finished_at = now
        self.rec.record(
            task_id,
            state=TaskState.RUNNING.value,
            attempt=outcome.attempt,
            started_at=now,
            finished_at=now,
            branch=found.branch,
            worktree=str(found.worktree),
            base=found.base,
            log=found.log,
            summary=found.summary,
        )
        self.rec.emit(
            "adopted", task_id, f"finished work of run {found.from_run} on {found.branch}"
        )
        self.scheduler.agent_finished(task_id, ok=True)
        self._settle(
            Work(task_id, found.branch, found.worktree, found.base),
            done=True,
            reason="",
            summary=found.summary,
            end=TaskState.FAILED,
        )

    # ------------------------------------------------------------------- merging
    def _merge_ready(self) -> None:
        for task_id in self.scheduler.pending_merge():
            if task_id in self.mergeable:
                self._merge(task_id)

    def _merge(self, task_id: str) -> None:
        if self.hard_stop:
            self.mergeable.discard(task_id)
            self._give_up(task_id, TaskState.CANCELLED, "interrupted before its merge")
            return
        task = self.plan.task(task_id)
        outcome = self.rec[task_id]
        head = str(outcome.extra["head"])
        message = build_merge_message(
            task_id,
            task.spec.title or task_id,
            task.agent,
            self.run_id,
            outcome.extra.get("violations", []),
            {TRAILER_DIGEST: task.spec.digest} if task.spec.digest else {},
            body=_merge_body(outcome.extra),
        )
        self.mergeable.discard(task_id)
        gate = self._gate(task_id) if self.config.merge.verify else None
        with self.rec.timed(task_id, "merge"):
            for _ in range(MERGE_ATTEMPTS):
                result = merge_task(
                    self.repo, self.target_ref, head, message, self.config.identity, gate=gate
                )
                if result.status != "moved":
                    break
        if result.status == "rejected" and self.hard_stop:
            self._give_up(task_id, TaskState.CANCELLED, "interrupted during the merge gate")
            return
        if result.status == "rejected":
            skipped = self.scheduler.not_merged(task_id, TaskState.FAILED)
            self._end_unmerged(task_id, TaskState.FAILED, result.reason)
            self.rec[task_id].reason = "verify"
            self.rec.record(task_id, reason="verify")
            self._record_skipped(skipped, task_id)
            return
        if result.status == "merged":
            now = time.time()
            self.scheduler.merged(task_id)
            outcome.state = TaskState.MERGED
            outcome.merged_at = now
            outcome.merge_commit = result.commit
            unchanged = not outcome.extra.get("changed_files")
            self.rec.record(
                task_id,
                state=TaskState.MERGED.value,
                merged_at=now,
                merge_commit=result.commit,
                **({"reason": NO_CHANGES} if unchanged else {}),
            )
            landed = f"into {self.target} as {(result.commit or '')[:12]}"
            self.rec.emit("merged", task_id, landed + (f" ({NO_CHANGES})" if unchanged else ""))
            self.rec.emit_timing(task_id)
            return
        paths = ", ".join(result.conflicts) or "the target moved during the merge"
        if (
            result.status == "conflict"
            and self.config.on_conflict == "retry"
            and outcome.attempt < 2
            and not self.stopping
        ):
            kept = self._keep_branch(task_id, TaskState.CONFLICT)
            self.worktrees.remove(task_id, force=False)
            self.scheduler.retry(task_id)
            outcome.state = TaskState.PENDING
            self.rec.emit("retry", task_id, f"merge conflict in {paths}; {kept} kept; retrying")
            return
        self._give_up(task_id, TaskState.CONFLICT, f"merge conflict in {paths}")

    def _gate(self, task_id: str) -> Callable[[str], str | None]:
        """The merge gate for one task: run ``[merge] verify`` on the merge result."""
        argv = self.config.merge.verify or []

        def check(commit: str) -> str | None:
            self.rec.emit("verifying", task_id, " ".join(argv))
            try:
                result = verify_commit(
                    self.repo,
                    commit,
                    argv,
                    scratch=self.worktrees.directory / ".verify",
                    log=self.files.logs / f"{task_id}.verify.log",
                    timeout=self.config.merge.verify_timeout,
                    on_start=self._gate_started,
                )
            finally:
                self.gate_pid = None
            if self.hard_stop:
                return "interrupted"
            return None if result.ok else result.reason

        return check

    # ------------------------------------------------------------ unmerged ends
    def _keep_branch(self, task_id: str, state: TaskState) -> str:
        """Rename a task branch to say what happened; the work stays reachable."""
        branch = TASK_BRANCH + task_id
        kept = f"coordinator/{state.value}/{self.run_id}/{task_id}"
        n = 1
        while self.repo.branch_exists(kept):
            n += 1
            kept = f"coordinator/{state.value}/{self.run_id}-{n}/{task_id}"
        if self.repo.branch_exists(branch):
            self.repo.rename_branch(branch, kept)
        self.rec[task_id].branch = kept
        return kept

    def _give_up(self, task_id: str, state: TaskState, reason: str) -> None:
        """A DONE task that will not land: end it, keep its branch, skip its dependents."""
        skipped = self.scheduler.not_merged(task_id, state)
        self._end_unmerged(task_id, state, reason)
        self._record_skipped(skipped, task_id)

    def _end_unmerged(self, task_id: str, state: TaskState, reason: str) -> None:
        outcome = self.rec[task_id]
        self._keep_branch(task_id, state)
        outcome.state = state
        outcome.reason = reason
        self.rec.record(task_id, state=state.value, reason=reason, branch=outcome.branch)
        self.rec.emit(state.value, task_id, f"{reason}; branch {outcome.branch} kept")

    def _record_skipped(self, skipped: list[str], cause: str) -> None:
        for task_id in skipped:
            outcome = self.rec[task_id]
            outcome.state = TaskState.SKIPPED
            outcome.reason = f"dependency {cause} was not merged"
            self.rec.record(task_id, state=TaskState.SKIPPED.value, reason=outcome.reason)
            self.rec.emit("skipped", task_id, outcome.reason)

    # ---------------------------------------------------------------- interrupts
    def _on_interrupt(self, event: Interrupt) -> None:
        """First: start nothing more, stop agents, keep their work. Second: kill at once."""
        self.hard_stop = self.hard_stop or event.hard
        if not self.stopping:
            self.stopping = True
            for task_id in self.scheduler.cancel():
                self.rec[task_id].state = TaskState.CANCELLED
                self.rec[task_id].reason = "interrupted before it started"
                self.rec.record(
                    task_id,
                    state=TaskState.CANCELLED.value,
                    reason="interrupted before it started",
                )
            self.rec.emit("stopping", None, "interrupted: no new tasks; stopping running agents")
        for active in list(self.active.values()):
            if active.outcome is None:
                self._complete(active, "failed", "", "interrupted")
                self._finalize(active, end=TaskState.CANCELLED)
            else:
                self._finalize(active)

    def request_stop(self, hard: bool = False) -> None:
        """Stop as the first Ctrl-C does, or with ``hard`` as the second; from any thread.

        A hard stop SIGKILLs every agent's process group here and now: the engine may be busy
        waiting for a tree to die after SIGTERM. The queue then records the rest.
        """
        if hard:
            self.hard_stop = True  # read by the merge gate, which blocks the loop meanwhile
            self._kill_agents_now()
        self.events.put(Interrupt(hard=hard))

    def _gate_started(self, pid: int) -> None:
        self.gate_pid = pid
        if self.hard_stop:  # the second Ctrl-C came while the gate was starting
            self._kill_agents_now()

    def _kill_agents_now(self) -> None:
        """SIGKILL every agent's process group and the merge gate's: each leads its session."""
        groups = [a.proc.pid for a in list(self.active.values())] + [self.gate_pid]
        for pid in groups:
            if pid is not None:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)

    # ------------------------------------------------------------------ helpers
    def _add_timer(self, deadline: float, timer: Timer) -> None:
        heapq.heappush(self.timers, (deadline, next(self._seq), timer))


def _merge_body(extra: Mapping[str, object]) -> str:
    """The merge commit's body: the agent's summary, and a note when nothing changed, so that
    a clone without the coordinator's store still tells the whole story."""
    parts = []
    if summary := str(extra.get("summary") or "").strip():
        parts.append(SUMMARY_PREFIX + summary)
    if not extra.get("changed_files"):
        parts.append(f"The task landed with {NO_CHANGES}: its agent changed no files.")
    return "\n\n".join(parts)


def _is_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False
