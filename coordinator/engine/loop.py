"""The run engine: one thread that decides, jobs that work, and events between them.

Background threads (the marker watcher, one waiter per agent, log pumps, jobs) and signal
handlers only put events on one queue; the loop takes them one at a time and hands each to its
handler, which records what it means (``book``) and starts what follows: a worktree job
(``starting``), a settle job that stops an agent and collects its work (``finishing``), the
merge lane (``merging``), a job that keeps an unmerged branch (``ending``). Nothing on this
thread waits for git, a gate or a dying process, so a marker is read the moment it is written
and a free slot is filled at once, whatever else is going on.
"""

from __future__ import annotations

import functools
import heapq
import queue
import time
from collections.abc import Callable, Mapping
from typing import Any

from coordinator.core.plan import Plan
from coordinator.core.policy import Scheduler
from coordinator.core.queueview import queue_notes
from coordinator.core.replan import Replanner
from coordinator.engine import (
    finishing,
    gating,
    guarding,
    interrupts,
    merging,
    queuestate,
    remote,
    resolving,
    starting,
)
from coordinator.engine.book import TaskBook
from coordinator.engine.context import GateStarted, Interrupt, ResolverStarted, RunContext, Timer
from coordinator.engine.jobs import JobDone
from coordinator.engine.recorder import Recorder
from coordinator.engine.recovery import Adopted
from coordinator.engine.stopping import StopRequest, stop_on_signals
from coordinator.errors import EXIT_OK
from coordinator.io.agents import AgentExited, become_subreaper
from coordinator.io.executor import (
    ClusterLost,
    Executor,
    NodeDone,
    NodeLost,
    NodeSetup,
    NodeStarted,
)
from coordinator.io.gitrepo import GitRepo
from coordinator.io.markers import MarkerSeen
from coordinator.io.notifier import Notifier
from coordinator.io.shared_state import SharedChanged
from coordinator.io.store import Store
from coordinator.project import Project
from coordinator.ui.display import Reporter, RunSummary
from coordinator.ui.lazyrows import LazyRows

DRAIN_LIMIT = 1000
WAKE_EVERY = 0.2  # seconds, at most, that the loop waits without running signal handlers


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
        adopt: Mapping[str, Adopted] | None = None,
        stop: StopRequest | None = None,
        executor: Executor | None = None,
    ) -> None:
        config = project.config
        caps = {name: config.agent_cap(name, instances) for name in config.agents}
        scheduler = Scheduler(plan, instances=instances, caps=caps)
        self.rec = Recorder(store, reporter, run_id)
        ports = (config.worktree.port_base, config.worktree.port_stride)
        replanner = Replanner(plan, instances=instances, caps=caps)
        self.book = TaskBook(plan, scheduler, store, self.rec, run_id=run_id, target=target,
                             instances=instances, ports=ports, replanner=replanner)  # fmt: skip
        self.ctx = RunContext(
            project, plan, repo, store, self.rec, self.book, run_id=run_id, target=target,
            adopt=adopt or {}, instances=instances,
        )  # fmt: skip
        self.ctx.queue.parallel = config.merge.parallel or instances
        self.ctx.executor = executor
        self.reporter = reporter
        self.stop = stop
        notify = config.notify
        if notify.command:
            self.rec.notifier = Notifier(
                notify.command, cwd=project.root, timeout=notify.timeout, events=notify.events,
                on_problem=self.ctx.notify_problems.append,
            )  # fmt: skip
        self.handlers: dict[type, Callable[[Any], None]] = {
            MarkerSeen: lambda e: finishing.on_marker(self.ctx, e),
            AgentExited: lambda e: finishing.on_exit(self.ctx, e),
            Timer: lambda e: finishing.on_timer(self.ctx, e),
            GateStarted: lambda e: merging.on_gate(self.ctx, e),
            SharedChanged: lambda e: guarding.on_changed(self.ctx, e),
            ResolverStarted: lambda e: resolving.on_started(self.ctx, e),
            Interrupt: lambda e: interrupts.on_interrupt(self.ctx, e),
            JobDone: self._on_job,
            NodeStarted: lambda e: remote.on_node_started(self.ctx, e),
            NodeLost: lambda e: remote.on_node_lost(self.ctx, e),
            NodeSetup: lambda e: remote.on_node_setup(self.ctx, e),
            NodeDone: lambda e: remote.on_node_done(self.ctx, e),
            ClusterLost: lambda e: remote.on_cluster_lost(self.ctx, e),
        }

    # ----------------------------------------------------------------- the loop
    def _loop(self) -> None:
        """Handle what is queued, start what may start, feed the merge lane, show, wait."""
        ctx = self.ctx
        self._drain()  # a stop asked for before the run began comes before any start
        while True:
            if not ctx.stopping:
                starting.start_ready(ctx)
            if ctx.config.merge.verify:
                gating.feed(ctx)
            else:
                merging.feed_lane(ctx)
            self._say_notify_problems()
            notes = queue_notes(queuestate.publish(ctx))
            rows = functools.partial(ctx.book.rows, live=ctx.meter.current, notes=notes)
            self.reporter.update(LazyRows(rows))
            if self._finished():
                return
            self._handle(self._next_event())
            self._drain()

    def _handle(self, event: object) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _drain(self) -> None:
        """Handle the events already queued (and the timers due) before deciding again; at
        most ``DRAIN_LIMIT``, so that a flood of events (an agent rewriting its marker in a
        loop) cannot keep the loop from deciding."""
        for _ in range(DRAIN_LIMIT):
            try:
                event = self.ctx.events.get_nowait()
            except queue.Empty:
                break
            self._handle(event)
        timers = self.ctx.timers
        while timers and timers[0][0] <= time.time():
            self._handle(heapq.heappop(timers)[2])

    def _say_notify_problems(self) -> None:
        problems = self.ctx.notify_problems
        while problems:
            self.rec.emit("warning", None, problems.pop(0))

    def _finished(self) -> bool:
        ctx = self.ctx
        busy = ctx.jobs.running or ctx.merge_round is not None
        if busy or ctx.book.running_agents() or ctx.book.merge_order():
            return False
        return ctx.stopping or ctx.book.done()

    def _next_event(self) -> object:
        """The next event, or the next timer due. The wait is cut every ``WAKE_EVERY``: a signal
        the kernel hands to another thread (it does when the main thread has one pending)
        only runs its Python handler once this thread executes bytecode again."""
        timers = self.ctx.timers
        while True:
            timeout = WAKE_EVERY
            if timers:
                timeout = min(timeout, max(0.0, timers[0][0] - time.time()))
                if timeout == 0.0:
                    return heapq.heappop(timers)[2]
            try:
                return self.ctx.events.get(timeout=timeout)
            except queue.Empty:
                continue

    def _on_job(self, done: JobDone) -> None:
        self.ctx.jobs.finished(done)
        if done.error is not None:
            raise done.error
        assert done.result is not None
        done.result.apply(self.ctx, done.task_id, done.seconds)

    # ------------------------------------------------------------ around the loop
    def run(self) -> RunSummary:
        ctx = self.ctx
        started = time.time()
        self.reporter.start(ctx.run_id, ctx.target, len(ctx.plan.tasks))
        become_subreaper()
        guarding.start(ctx)
        ctx.watcher.start()
        if self.stop is not None:
            self.stop.attach(self.request_stop)
        try:
            with stop_on_signals(self.request_stop):
                self._loop()
            self.reporter.update(ctx.book.rows())  # the last event's outcome, drawn too
        except BaseException:
            interrupts.kill_now(ctx)  # no agent outlives a coordinator that gives up
            raise
        finally:
            if self.stop is not None:
                self.stop.detach()
            ctx.watcher.stop()
            ctx.idle.stop()
            ctx.meter.stop()
            ctx.shared.stop()
        guarding.finish(ctx)
        summary = self.book.summary(time.time() - started, ctx.target, ctx.max_parallel)
        ctx.store.finish_run(
            ctx.run_id,
            state="finished" if summary.exit_code == EXIT_OK else "incomplete",
            finished_at=time.time(),
            summary=summary.as_dict(),
        )
        self.reporter.summary(summary)
        self._notify_finished(summary)
        return summary

    def _notify_finished(self, summary: RunSummary) -> None:
        """``run_finished`` with the summary; waits for every notice (each has a timeout)."""
        notifier = self.rec.notifier
        if notifier is None:
            return
        self.rec.notify("run_finished", target=self.ctx.target, summary=summary.as_dict())
        notifier.close()
        self._say_notify_problems()

    def request_stop(self, hard: bool = False) -> None:
        """Stop as the first Ctrl-C does, or with ``hard`` as the second; from any thread."""
        interrupts.request_stop(self.ctx, hard)
