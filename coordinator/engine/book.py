"""The one copy of every task's state in a run: memory, store and display from one place.

Each task has one ``TaskRun``. It changes only through the ``TaskBook``'s transitions, and each
transition updates the record, the store (in one transaction, so ``coordinator status`` never
sees half of it) and the scheduling policy together, then says what happened as events. The
live display and the run summary are read from the same records.

The policy (``coordinator.core.policy.Scheduler``) is private to the book: it decides what may
start and tracks slots and footprint reservations, at a coarser grain (its ``DONE`` covers
``done``, ``merging``, ``verifying`` and ``resolving``), and nothing outside the book reads or
moves it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from coordinator.core.decisions import BEFORE_START, BUDGET, TAMPERED, Completion
from coordinator.core.models import TaskState
from coordinator.core.plan import Plan
from coordinator.core.policy import Scheduler
from coordinator.core.replan import Replanner
from coordinator.core.slots import pick_slot, port_for
from coordinator.core.usage import Resources, Usage, format_resources, format_usage, total_usage
from coordinator.engine.recorder import Recorder
from coordinator.engine.taskrun import TaskRun
from coordinator.errors import EXIT_OK, EXIT_UNMERGED
from coordinator.io.agents import AgentProcess
from coordinator.io.store import TASK_COLUMNS, Store
from coordinator.ui.display import RunSummary, TaskRow

NO_CHANGES = "no changes"


class TaskBook:
    """Every task of one run, and the only way their state changes."""

    def __init__(
        self, plan: Plan, scheduler: Scheduler, store: Store, rec: Recorder, *, run_id: str,
        target: str, instances: int = 1, ports: tuple[int, int] = (20000, 10),
        replanner: Replanner | None = None,
    ) -> None:  # fmt: skip
        self.plan = plan
        self.target = target
        self._policy = scheduler
        self._replanner = replanner  # re-ranks waiting tasks once estimates prove wrong
        self.store = store
        self.rec = rec
        self.run_id = run_id
        self.instances = instances
        self.ports = ports  # (port_base, port_stride)
        self.tasks = {t.id: TaskRun(t.id, t.agent) for t in plan.tasks}
        self._order = {task_id: i for i, task_id in enumerate(self.tasks)}
        self._slots: dict[int, str] = {}  # slot -> the task holding it
        self._cooling: list[int] = []  # slots given back whose agents may still be stopping

    def __getitem__(self, task_id: str) -> TaskRun:
        return self.tasks[task_id]

    def __iter__(self) -> Iterator[TaskRun]:
        return iter(self.tasks.values())

    # ---------------------------------------------------------------- questions
    def attempt(self, task_id: str) -> int:
        return self._policy.attempt(task_id)

    def done(self) -> bool:
        """Every task has ended: nothing more will start or land."""
        return self._policy.done()

    def merge_order(self) -> list[str]:
        """Tasks waiting for the merge lane, in plan (dependency) order."""
        tasks = self.tasks
        return [t for t in self._policy.pending_merge() if tasks[t].state == TaskState.MERGING]

    def running_agents(self) -> list[TaskRun]:
        """Asked after every event: only the tasks the policy has running are looked at, so
        the cost does not grow with the number of tasks in the run."""
        running = [self.tasks[t] for t in self._policy.running()]
        return sorted((t for t in running if t.agent_running), key=lambda t: self._order[t.id])

    # -------------------------------------------------------------- transitions
    def update(self, task_id: str, **fields: Any) -> None:
        """Set fields on the record and write the stored ones, together."""
        task = self.tasks[task_id]
        for name, value in fields.items():
            if hasattr(task, name):
                setattr(task, name, value)
        stored = {k: v for k, v in fields.items() if k in TASK_COLUMNS}
        if stored:
            with self.rec.timed(task_id, "store"):
                self.store.upsert_task(self.run_id, task_id, **stored)

    def next_starts(self, *, admit: bool, why: str) -> list[str]:
        """The tasks the policy starts now (best first); each becomes ``running`` here."""
        now = time.time()
        if self._replanner is not None:
            running = {t.id: t.started_at for t in self if t.agent_running and t.started_at}
            self._replanner.update(self._policy, {k: now - v for k, v in running.items() if v})
        started = self._policy.next_starts(admit=admit, why=why)
        for task_id in started:
            attempt = self._policy.attempt(task_id)
            slot = pick_slot(self.instances, self._slots, self._cooling)
            self._slots[slot] = task_id
            if slot in self._cooling:
                self._cooling.remove(slot)
            # No branch or base yet: a coordinator killed before the worktree is made leaves
            # nothing for recovery to collect, and an older branch of this id untouched.
            self.update(
                task_id, state=TaskState.RUNNING, attempt=attempt, started_at=now,
                finished_at=None, branch=None, worktree=None, base=None, pid=None, node=None,
                pid_create_time=None, reason="", completion=None, proc=None, exited=False,
                slot=slot, port=port_for(slot, *self.ports), placed=[], retrying=False,
                attempt_open=False,
            )  # fmt: skip
        return started

    def _free_slot(self, task_id: str) -> None:
        """The agent's work is over: its slot may go to the next task (cooling a while)."""
        slot = self.tasks[task_id].slot
        if slot is not None and self._slots.get(slot) == task_id:
            del self._slots[slot]
            self._cooling.append(slot)

    def settled(self, task_id: str) -> None:
        """The agent's processes are gone: its port is surely free again."""
        slot = self.tasks[task_id].slot
        if slot in self._cooling and slot not in self._slots:
            self._cooling.remove(slot)

    def worktree_ready(
        self, task_id: str, *, branch: str, worktree: str, base: str, log: str,
        placed: Sequence[str] = (),
    ) -> None:  # fmt: skip
        """Recorded before the agent exists, so that recovery knows where its work would be
        (and which placed files to leave out of it)."""
        self.update(
            task_id, branch=branch, worktree=worktree, base=base, log=log, placed=list(placed)
        )

    def _open_attempt(self, task_id: str, now: float) -> None:
        task = self.tasks[task_id]
        if not task.attempt_open:
            self.store.add_attempt(
                self.run_id, task_id, task.attempt, started_at=now, branch=task.branch,
                base=task.base, slot=task.slot, log=task.log,
            )  # fmt: skip
            task.attempt_open = True

    def setup_started(self, task_id: str, command: str) -> None:
        """``[worktree] setup`` runs: the attempt begins (a setup failure ends it)."""
        self._open_attempt(task_id, time.time())
        self.rec.emit("setup", self.tasks[task_id].id, command)

    def agent_started(self, task_id: str, proc: AgentProcess) -> None:
        task = self.tasks[task_id]
        now = time.time()
        where = f"attempt {task.attempt} in {task.worktree} (slot {task.slot}, port {task.port})"
        with self.rec.storing(task_id):
            self.update(
                task_id, proc=proc, started_at=now, pid=proc.pid, pid_create_time=proc.create_time
            )
            self._open_attempt(task_id, now)
            self.rec.emit("started", task_id, where, pid=proc.pid, slot=task.slot, port=task.port)

    def agent_finished(self, task_id: str, completion: Completion, *, retry: bool = False) -> None:
        """The agent's work is over: its slot frees now, before its processes are stopped.

        With ``retry`` (a failed agent that runs again) the task stays open for the policy:
        its dependents wait, and its footprint stays reserved until the new attempt.
        """
        task = self.tasks[task_id]
        now = time.time()
        worked = now - (task.started_at or now)
        if completion.ok and self._replanner is not None:
            self._replanner.finished(task_id, worked)
        skipped = self._policy.agent_finished(task_id, ok=completion.ok or retry)
        self._free_slot(task_id)
        with self.rec.storing(task_id):
            self.update(
                task_id, completion=completion, finished_at=now, summary=completion.summary,
                reason=completion.reason, agent_time=task.agent_time + worked,
                **({"state": TaskState.DONE} if completion.ok else {}),
            )  # fmt: skip
            if task.attempt_open:  # else stopped before it started: no attempt
                self.store.finish_attempt(
                    self.run_id, task_id, task.attempt, finished_at=now,
                    outcome="done" if completion.ok else "failed", reason=completion.reason or None,
                )  # fmt: skip
            task.retrying = retry
            task.failures += retry
            if completion.ok:
                how = completion.how
                self.rec.emit("finished", task_id, f"agent done ({how})",
                              summary=completion.summary)  # fmt: skip
            else:
                said = completion.reason + ("; it runs again" if retry else "")
                self.rec.emit("agent-failed", task_id, said, summary=completion.summary)
            self._skip(skipped, task_id)

    def attempt_used(self, task_id: str, usage: Usage, resources: Resources) -> None:
        """What this attempt's agent used; the task's totals (and the run's) grow by it."""
        task = self.tasks[task_id]
        task.usage = task.usage + usage
        task.resources = task.resources.combine(resources)
        with self.store.transaction():
            if task.attempt_open:
                self.store.attempt_used(
                    self.run_id, task_id, task.attempt, usage=usage.as_dict(),
                    resources=resources.as_dict(),
                )  # fmt: skip
            self.store.upsert_task(
                self.run_id, task_id, usage=task.usage.as_dict(),
                resources=task.resources.as_dict(),
            )  # fmt: skip

    def total_usage(self) -> Usage:
        return total_usage(t.usage for t in self)

    def adopted(self, task_id: str, *, branch: str, worktree: str, base: str, log: str,
                summary: str, from_run: str, placed: Sequence[str] = ()) -> None:  # fmt: skip
        """Finished work of a run that was cut off: it goes to collection without an agent."""
        now = time.time()
        self._policy.agent_finished(task_id, ok=True)
        self._free_slot(task_id)
        self.update(
            task_id, state=TaskState.DONE, attempt=self._policy.attempt(task_id), started_at=now,
            finished_at=now, branch=branch, worktree=worktree, base=base, log=log,
            summary=summary, completion=Completion(True, "adopted", summary=summary),
            placed=list(placed),
        )  # fmt: skip
        self.rec.emit("adopted", task_id, f"finished work of run {from_run} on {branch}")

    def collected(
        self, task_id: str, *, head: str, changed: Sequence[str], violations: Sequence[str]
    ) -> None:
        predicted = list(self.plan.task(task_id).footprint.patterns)
        self.update(
            task_id, head=head, changed_files=list(changed), violations=list(violations),
            predicted_files=predicted,
        )  # fmt: skip

    def merging(self, task_id: str) -> None:
        """Collected and clean: the work waits for the merge lane (or is merging)."""
        changed = len(self.tasks[task_id].changed_files)
        with self.rec.storing(task_id):
            self.update(task_id, state=TaskState.MERGING)
            self.rec.emit("merging", task_id, f"{changed} files changed; in the merge lane")

    def verifying(self, task_id: str, pid: int | None, create_time: float | None) -> None:
        """The gate runs: its pid is stored, so that a run cut off now can still kill it."""
        self.update(task_id, state=TaskState.VERIFYING, pid=pid, pid_create_time=create_time)

    def resolving(self, task_id: str, pid: int | None = None, create_time: float | None = None
                  ) -> None:  # fmt: skip
        """A resolver works on the task's conflicted merge; with ``pid``, its process runs (the
        pid is stored, so that a run cut off now can still kill it)."""
        self.update(task_id, state=TaskState.RESOLVING, pid=pid, pid_create_time=create_time)

    def merged(self, task_id: str, commit: str) -> None:
        task = self.tasks[task_id]
        self._policy.merged(task_id)
        unchanged = not task.changed_files
        landed = f"into {self.target} as {commit[:12]}" + (f" ({NO_CHANGES})" if unchanged else "")
        with self.rec.storing(task_id):
            self.update(
                task_id, state=TaskState.MERGED, merged_at=time.time(), merge_commit=commit,
                **({"reason": NO_CHANGES} if unchanged else {}),
            )  # fmt: skip
            self.rec.emit("merged", task_id, landed)
            self.rec.emit_timing(task_id)  # the task's own cost is all counted by now

    def ended(
        self, task_id: str, state: TaskState, reason: str, *, branch: str, detail: str = ""
    ) -> None:
        """The task ends unmerged in ``state``; its work is on ``branch``; dependents skip."""
        skipped: list[str] = []
        if self._policy.state[task_id] == TaskState.DONE:  # a failed agent ended it already
            skipped = self._policy.not_merged(task_id, state)
        with self.rec.storing(task_id):
            self.update(task_id, state=state, reason=reason, branch=branch)
            self.rec.emit(state.value, task_id, f"{detail or reason}; branch {branch} kept")
        kind = {TaskState.FAILED: "task_failed", TaskState.CONFLICT: "task_conflict"}.get(state)
        if kind:
            self.notify(kind, task_id, detail or reason)
        if reason == TAMPERED:  # said apart too: a user may want only these
            self.notify("task_tampered", task_id, detail or reason)
        self._skip(skipped, task_id)

    def notify(self, kind: str, task_id: str, detail: str = "") -> None:
        """Tell ``[notify] command`` about a task (``task_failed``, ``task_conflict``,
        ``task_tampered``), with what ``status --json`` says of it."""
        task = self.tasks[task_id]
        about = {
            "id": task.id, "agent": task.agent, "state": task.state.value, "reason": task.reason,
            "attempt": task.attempt, "branch": task.branch, "worktree": task.worktree,
            "log": task.log, "usage": task.usage.as_dict(),
        }  # fmt: skip
        self.rec.notify(kind, target=self.target, task=about, detail=detail)

    def retried(self, task_id: str, *, kept: str, reason: str, conflict: bool = True) -> None:
        """The task runs again from the new head (after a conflict, or a failed agent with
        retries left); the work of the attempt before stays on ``kept``."""
        self._policy.retry(task_id)
        task = self.tasks[task_id]
        task.conflicts += conflict
        task.retrying = False
        with self.rec.storing(task_id):
            self.update(task_id, state=TaskState.PENDING, branch=kept, reason="")
            self.rec.emit("retry", task_id, f"{reason}; {kept} kept; retrying")

    def budget_stop(self, why: str) -> None:
        """The run's budget is used up: nothing that has not started will (``skipped``)."""
        for task_id in self._policy.cancel():
            self.update(task_id, state=TaskState.SKIPPED, reason=BUDGET)
            self.rec.emit("skipped", task_id, f"{BUDGET}: {why}")

    def cancel_pending(self) -> None:
        """Ctrl-C: nothing that has not started will."""
        for task_id in self._policy.cancel():
            self.update(task_id, state=TaskState.CANCELLED, reason=BEFORE_START)

    def _skip(self, skipped: list[str], cause: str) -> None:
        for task_id in skipped:
            reason = f"dependency {cause} was not merged"
            self.update(task_id, state=TaskState.SKIPPED, reason=reason)
            self.rec.emit("skipped", task_id, reason)

    # ------------------------------------------------------------------ display
    def rows(
        self, live: Callable[[str], Resources | None] | None = None,
        notes: Mapping[str, str] | None = None,
    ) -> list[TaskRow]:  # fmt: skip
        """The live view's rows; ``live`` gives a running agent's memory and CPU so far,
        ``notes`` what the merge queue says about the tasks it holds."""
        waiting = self._policy.waiting_reasons()
        rows = []
        for task in self:
            note = (notes or {}).get(task.id) or task.reason or waiting.get(task.id, "")
            if task.state == TaskState.RUNNING:
                note = ""
            used = task.resources
            if live is not None and task.agent_running and (now := live(task.id)) is not None:
                used = used.combine(now)
            row = TaskRow(
                task.id, task.agent, task.state.value, task.attempt, task.started_at,
                task.finished_at, task.worktree or "", note, format_usage(task.usage),
                format_resources(used), task.node or "",
            )  # fmt: skip
            rows.append(row)
        return rows

    def summary(self, wall: float, target: str, max_parallel: int) -> RunSummary:
        counts: dict[str, int] = {}
        unmerged = []
        for task in self:
            counts[task.state.value] = counts.get(task.state.value, 0) + 1
            if task.state != TaskState.MERGED:
                unmerged.append(
                    {
                        "id": task.id,
                        "state": task.state.value,
                        "reason": task.reason,
                        "branch": task.branch or "",
                        "log": task.log or "",
                    }
                )
        agent_time = sum(t.agent_time for t in self)
        code = EXIT_OK if not unmerged else EXIT_UNMERGED
        used = Resources()
        for task in self:
            used = used.combine(task.resources)
        return RunSummary(
            self.run_id, target, wall, agent_time, max_parallel, counts, unmerged, code,
            tuple(self.rec.notes), self.total_usage(), used,
        )  # fmt: skip
