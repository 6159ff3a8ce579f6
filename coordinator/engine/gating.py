"""The merge queue with a gate: speculative chains, gates side by side, landing by one CAS.

A round (``coordinator.core.mergequeue`` chooses its groups) runs as jobs:

1. a *build* job merges the round's entries onto the target one after another as commits
   (each task's own two-parent merge commit, the next one on top of it), without moving
   anything; an entry that conflicts is left out of the chain and handled as a conflict;
2. one *gate* job per group checks that group's last commit in a scratch checkout of its own,
   all at once;
3. when every gate has reported, the queue judges; a *land* job moves the target by one
   compare-and-swap ``update-ref`` to the last commit of the leading groups that passed, so
   every task lands as its own merge commit, in order, and only what a gate saw lands.

Nothing is written between the gates and the ``update-ref`` that a resumed run would trust: a
run cut off anywhere leaves the target either before or after the whole move, and the tasks
not on it are collected and queued again.
"""

from __future__ import annotations

import queue
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from coordinator.core.config import Identity
from coordinator.core.decisions import after_gate, before_merge
from coordinator.core.mergequeue import Group
from coordinator.core.refs import short_name
from coordinator.engine import ending, guarding, resolving
from coordinator.engine.context import GateStarted, RunContext
from coordinator.engine.jobs import GATE, MERGE, GateSwitch
from coordinator.engine.merging import at_rest, pool_worktree
from coordinator.engine.messages import merge_message
from coordinator.errors import CoordinatorError
from coordinator.io.faults import crash_point
from coordinator.io.gitrepo import GitRepo
from coordinator.io.shared_state import Finding, SharedState
from coordinator.io.verify import verify_commit


@dataclass
class Round:
    """One round in flight (loop thread only)."""

    groups: list[Group]
    old: str = ""
    commits: dict[str, str] = field(default_factory=dict)  # task id -> its chained merge commit
    gates: list[Group] = field(default_factory=list)  # the groups gated (conflicts left out)
    results: dict[int, str | None] = field(default_factory=dict)  # gate index -> reason | None
    probe: bool = False  # a bisection probe


def feed(ctx: RunContext) -> None:
    """Start the next round when none is in flight and entries are waiting."""
    if ctx.jobs.lane_busy() or ctx.merge_round is not None:
        return
    waiting = []
    for task_id in ctx.book.merge_order():
        if ctx.jobs.busy(task_id):
            continue
        verdict = before_merge(hard_stop=ctx.hard.is_set())
        if verdict.action == "end":
            ctx.queue.drop(task_id)
            ending.keep(ctx, task_id, verdict)
            continue
        waiting.append(task_id)
    groups = ctx.queue.next_round(waiting)
    if not groups:
        return
    probing = bool(ctx.queue.bisecting)
    ctx.merge_round = Round(groups, probe=probing)
    shown = " | ".join("+".join(g) for g in groups)
    ctx.rec.emit(
        "queue", None,
        f"{'bisecting' if probing else 'gating'} {shown}"
        + ("" if len(groups) == 1 else " (each group on top of the ones before it)"),
        groups=[list(g) for g in groups], speculative=[list(g) for g in groups[1:]],
        bisecting=list(ctx.queue.bisecting),
    )  # fmt: skip
    entries = [(t, ctx.book[t].head, merge_message(ctx, t)) for g in groups for t in g]
    job = BuildJob(ctx.repo, entries, ctx.config.identity, ctx.attributes, ctx.shared,
                   guarding.look(ctx))  # fmt: skip
    ctx.jobs.start(MERGE, groups[0][0], job.run)


@dataclass(frozen=True)
class BuildJob:
    repo: GitRepo
    entries: Sequence[tuple[str, str, str]]  # (task id, task head, merge message)
    identity: Identity
    attributes: Path | None
    shared: SharedState
    look: guarding.Look  # puts back a target someone else moved, before building on it

    def run(self) -> Built:
        findings = self.look()
        old = self.shared.expected_target  # never a value someone else put there
        tip = old
        commits: dict[str, str] = {}
        conflicts: dict[str, tuple[str, ...]] = {}
        for task_id, head, message in self.entries:
            result = self.repo.merge_tree(tip, head, attributes=self.attributes)
            if result.tree is None:
                conflicts[task_id] = result.conflicts
                continue
            tip = self.repo.commit_tree(result.tree, [tip, head], message, self.identity)
            commits[task_id] = tip
        return Built(old, commits, conflicts, tuple(findings))


@dataclass(frozen=True)
class Built:
    old: str
    commits: dict[str, str]
    conflicts: dict[str, tuple[str, ...]]
    findings: tuple[Finding, ...] = ()

    def apply(self, ctx: RunContext, task_id: str, seconds: float) -> None:
        guarding.report(ctx, self.findings)
        current = ctx.merge_round
        assert current is not None
        current.old, current.commits = self.old, self.commits
        for conflicted, paths in self.conflicts.items():
            ctx.queue.drop(conflicted)
            resolving.on_conflict(ctx, conflicted, paths)
        kept = (tuple(t for t in g if t in self.commits) for g in current.groups)
        current.gates = [g for g in kept if g]
        if not current.gates:
            ctx.merge_round = None
            return
        assert ctx.config.merge.verify is not None
        for index, group in enumerate(current.gates):
            log = ctx.files.logs / f"{group[-1]}.verify.log"
            ctx.rec.note_gate_log(group, log)  # (the previous round's gates have all ended)
            gate = GateRun(
                ctx.repo, group, self.commits[group[-1]], ctx.config.merge.verify,
                ctx.worktrees.directory / f".verify-{index}", log,
                ctx.config.merge.verify_timeout, ctx.events, ctx.gate, index,
            )  # fmt: skip
            ctx.jobs.start(GATE, group[-1], gate.run)


@dataclass(frozen=True)
class GateRun:
    repo: GitRepo
    group: Group
    commit: str
    argv: Sequence[str]
    scratch: Path
    log: Path
    timeout: float
    events: queue.SimpleQueue[object]
    switch: GateSwitch
    index: int

    def run(self) -> Gated:
        pids: list[int] = []

        def started(pid: int) -> None:
            pids.append(pid)
            self.switch.started(pid)
            try:
                create_time: float | None = psutil.Process(pid).create_time()
            except psutil.Error:
                create_time = None
            for task_id in self.group:
                self.events.put(GateStarted(task_id, pid, create_time))

        try:
            result = verify_commit(
                self.repo, self.commit, self.argv, scratch=self.scratch, log=self.log,
                timeout=self.timeout, on_start=started, covers=self.group,
            )  # fmt: skip
        finally:
            for pid in pids:
                self.switch.ended(pid)
        return Gated(self.index, None if result.ok else result.reason)


@dataclass(frozen=True)
class Gated:
    index: int
    reason: str | None

    def apply(self, ctx: RunContext, task_id: str, seconds: float) -> None:
        current = ctx.merge_round
        assert current is not None
        current.results[self.index] = self.reason
        for member in current.gates[self.index]:
            ctx.rec.add_phase(member, "verify", seconds)
        if len(current.results) < len(current.gates):
            return
        crash_point("queue-gates-judged")
        members = [t for g in current.gates for t in g]
        if ctx.hard.is_set():  # the gates were killed: they said nothing about the work
            ctx.merge_round = None
            for member in members:
                ctx.queue.drop(member)
                ending.keep(ctx, member, after_gate(hard_stop=True))
            return
        passed = [current.results[i] is None for i in range(len(current.gates))]
        verdict = ctx.queue.judge(current.gates, passed)
        reasons = [current.results[i] or "" for i in range(len(current.gates))]
        if not verdict.inferred and any(not ok for ok in passed):
            ctx.last_gate_reason = next(r for r, ok in zip(reasons, passed, strict=True) if not ok)
        failures = [(t, reasons[i] if i >= 0 else ctx.last_gate_reason) for t, i in verdict.fail]
        if ctx.queue.bisecting:
            crash_point("queue-bisect-started")
        target = current.commits[verdict.land[-1]] if verdict.land else None
        job = LandJob(ctx.repo, ctx.target_ref, current.old, target, ctx.config.identity,
                      ctx.shared)  # fmt: skip
        lead = current.gates[0][0]
        ctx.jobs.start(MERGE, lead, lambda: Moved(job.run(), verdict.land, failures, current))


@dataclass(frozen=True)
class LandJob:
    repo: GitRepo
    target_ref: str
    old: str
    new: str | None
    identity: Identity
    shared: SharedState

    def run(self) -> bool:
        """Move the target from ``old`` to ``new`` by compare-and-swap against the value the
        coordinator last wrote; False: it had moved (the next round's look puts it back)."""
        if self.new is None:
            return True
        branch = short_name(self.target_ref)
        holder = next((w for w in self.repo.worktree_list() if w.branch == branch), None)
        if holder is not None:
            raise CoordinatorError(
                f"refusing to merge into {branch}: it is checked out in {holder.path} (switch "
                "that checkout to another branch, or choose another target)"
            )
        crash_point("queue-between-gate-and-update-ref")
        moved = self.shared.move_target(self.new, self.old, "coordinator: merge queue",
                                        self.identity)  # fmt: skip
        if moved:
            crash_point("queue-after-update-ref")
        return moved


@dataclass(frozen=True)
class Moved:
    ok: bool
    land: Group
    failures: list[tuple[str, str]]
    round: Round

    def apply(self, ctx: RunContext, task_id: str, seconds: float) -> None:
        ctx.merge_round = None
        ctx.rec.add_phase(task_id, "merge", seconds)
        settled = set()
        if self.ok:
            for landed in self.land:
                ctx.book.merged(landed, self.round.commits[landed])
                at_rest(ctx, landed)
                pool_worktree(ctx, landed, self.round.commits[self.land[-1]])
            for failed, reason in self.failures:
                ending.keep(ctx, failed, after_gate(hard_stop=False), detail=reason)
            settled = {*self.land, *(t for t, _ in self.failures)}
        else:  # someone else moved the target: nothing landed; the next round rebuilds
            ctx.rec.emit("warning", None, f"{ctx.target} moved during the merge queue's round")
        for member in (t for g in self.round.gates for t in g if t not in settled):
            ctx.book.merging(member)  # back in the queue, rebuilt by a later round
