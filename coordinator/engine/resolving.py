"""``on_conflict = "resolve"``: a resolver agent finishes a conflicted merge, then it lands.

On a conflict the task's branch is merged with the current target in a worktree of its own (a
new branch at the target head, ``git merge --no-commit``), so the conflict markers are in the
files and the unmerged paths in the index, exactly as a person would meet them. The resolver
(``[merge] resolver``, an agent type) runs there with a prompt giving the task's spec, the
specs of the already merged tasks that touched the conflicting paths, and the paths
(``COORDINATOR_CONFLICTS``, newline-separated; ``COORDINATOR_RESOLVE=1``). Its result must
leave no marker in those files, change nothing else unless its marker's ``files`` declares
it, and pass ``[merge] verify``; then it lands by compare-and-swap as the task's merge commit
(parents: target head, task head) with a ``Coordinator-Resolved-By`` trailer. Anything else is
a failure, which falls back to a rerun from the new head (``core.decisions.after_resolver``).

The whole attempt is one job; the resolver's process group is registered with the gate
switch, so a second Ctrl-C kills it like a gate.
"""

from __future__ import annotations

import os
import queue
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from coordinator.core.argv import agent_env, render_argv
from coordinator.core.config import AgentConfig, Identity
from coordinator.core.decisions import after_conflict, after_resolver, by_exit, timed_out
from coordinator.core.refs import resolving_branch
from coordinator.core.resolution import (
    SpecText,
    has_conflict_markers,
    resolver_prompt,
    undeclared_changes,
)
from coordinator.engine import ending, guarding
from coordinator.engine.context import ResolverStarted, RunContext
from coordinator.engine.jobs import GateSwitch
from coordinator.engine.messages import merge_message
from coordinator.io import processes
from coordinator.io.agents import kill_tree
from coordinator.io.faults import crash_point
from coordinator.io.gitrepo import GitRepo
from coordinator.io.markers import read_marker
from coordinator.io.merger import TRAILER_TASK
from coordinator.io.shared_state import Finding, LiveAgents, SharedState
from coordinator.io.verify import verify_commit

RESOLVE = "resolve"  # the job kind
TRAILER_RESOLVED_BY = "Coordinator-Resolved-By"


def on_conflict(ctx: RunContext, task_id: str, conflicts: Sequence[str]) -> None:
    """A task's merge conflicted: resolve it, retry it or keep it, as ``core.decisions``
    says."""
    verdict = after_conflict(
        conflicts, on_conflict=ctx.config.on_conflict, attempt=1 + ctx.book[task_id].conflicts,
        stopping=ctx.stopping or bool(ctx.budget),
    )  # fmt: skip
    if verdict.action != "resolve":
        ending.keep(ctx, task_id, verdict)
        return
    resolver = ctx.config.merge.resolver
    assert resolver is not None  # the config check guarantees it
    run = ctx.book[task_id]
    specs = {s.id: SpecText(s.id, s.title or s.id, s.body) for s in ctx.project.specs}
    task = ctx.plan.task(task_id)
    verify = ctx.config.merge.verify
    job = ResolveJob(
        repo=ctx.repo, target_ref=ctx.target_ref, task_id=task_id, head=run.head,
        base=run.base or "", conflicts=tuple(conflicts), resolver=resolver,
        agent=ctx.config.agents[resolver], identity=ctx.config.identity,
        message=merge_message(ctx, task_id, {TRAILER_RESOLVED_BY: resolver}),
        spec=specs.get(task_id, SpecText(task_id, task.spec.title or task_id, task.spec.body)),
        specs=specs, directory=ctx.worktrees.directory, files_root=ctx.files.root,
        log=ctx.files.logs / f"{task_id}.resolve.log", run_id=ctx.run_id, attempt=run.attempt,
        attributes=ctx.attributes, verify=tuple(verify) if verify else (),
        verify_timeout=ctx.config.merge.verify_timeout, switch=ctx.gate, events=ctx.events,
        shared=ctx.shared, look=guarding.look(ctx), live=ctx.live,
    )  # fmt: skip
    ctx.book.resolving(task_id)
    ctx.rec.emit("resolving", task_id, f"{resolver} resolves {', '.join(conflicts)}")
    ctx.jobs.start(RESOLVE, task_id, job.run)


def on_started(ctx: RunContext, event: ResolverStarted) -> None:
    """The resolver's process runs: its pid is stored, so a run cut off now can kill it."""
    if ctx.jobs.running.get(event.task_id) == RESOLVE:
        ctx.book.resolving(event.task_id, event.pid, event.create_time)
    crash_point("resolver-running")


@dataclass(frozen=True)
class Resolved:
    commit: str | None  # the landed merge commit; None: the resolver failed (``why``)
    why: str
    conflicts: tuple[str, ...]
    resolver: str
    findings: tuple[Finding, ...] = ()

    def apply(self, ctx: RunContext, task_id: str, seconds: float) -> None:
        ctx.rec.add_phase(task_id, "merge", seconds)
        guarding.report(ctx, self.findings)
        if self.commit is not None and guarding.is_tampered(ctx, task_id):
            ctx.rec.emit("warning", task_id, "the resolver's merge landed before its tampering "
                         "was found")  # fmt: skip
        if self.commit is not None:
            paths = ", ".join(self.conflicts)
            ctx.rec.emit("resolved", task_id, f"{self.resolver} resolved {paths}")
            ctx.book.merged(task_id, self.commit)  # with the task's timing
            return
        ctx.rec.emit("warning", task_id, f"the resolver failed: {self.why}")
        verdict = after_resolver(
            self.conflicts, self.why, attempt=1 + ctx.book[task_id].conflicts,
            stopping=ctx.stopping or bool(ctx.budget),
        )
        ending.keep(ctx, task_id, verdict, detail=self.why)


@dataclass(frozen=True)
class ResolveJob:
    repo: GitRepo
    target_ref: str
    task_id: str
    head: str
    base: str
    conflicts: tuple[str, ...]
    resolver: str
    agent: AgentConfig
    identity: Identity
    message: str
    spec: SpecText
    specs: dict[str, SpecText]
    directory: Path
    files_root: Path
    log: Path
    run_id: str
    attempt: int
    attributes: Path | None
    verify: tuple[str, ...]
    verify_timeout: float
    switch: GateSwitch
    shared: SharedState
    look: guarding.Look  # before the target moves: puts back what someone else changed
    live: LiveAgents  # the resolver is an agent: a change while it runs may be pinned on it
    events: queue.SimpleQueue[object]

    def run(self) -> Resolved:
        path = self.directory / f".resolve-{self.task_id}"
        branch = resolving_branch(self.run_id, self.task_id)
        self._clear(path, branch)
        findings: list[Finding] = []
        try:
            commit, why = self._attempt(path, branch, findings)
        finally:
            self.live.discard(self.task_id)
            self._clear(path, branch)
        return Resolved(commit, why, self.conflicts, self.resolver, tuple(findings))

    def _clear(self, path: Path, branch: str) -> None:
        if path.exists():
            self.repo.worktree_remove(path, force=True)
        self.repo.worktree_prune()
        if self.repo.branch_exists(branch):
            self.repo.delete_branch(branch)

    def _attempt(  # noqa: PLR0911
        self, path: Path, branch: str, findings: list[Finding]
    ) -> tuple[str | None, str]:
        findings += self.look()
        old = self.shared.expected_target  # never a value someone else put there
        computed = self.repo.merge_tree(old, self.head, attributes=self.attributes)
        before = computed.tree or computed.conflicted_tree
        conflicts = computed.conflicts or self.conflicts
        self.repo.worktree_add(path, branch, old)
        self.repo.merge_no_commit(self.head, path, attributes=self.attributes)
        marker = self.files_root / "resolve" / f"{self.task_id}.json"
        self.live.add(self.task_id, "worktree")
        why = self._run_resolver(path, marker, conflicts, old)
        findings += self.look()  # the resolver is done: what it changed is put back now
        if why:
            return None, why
        left = [c for c in conflicts if _holds_markers(path / c)]
        if left:
            return None, f"conflict markers left in {', '.join(left)}"
        tree = self.repo.stage_all(path)
        content = read_marker(marker)
        declared = content.files if content is not None else ()
        changed = self.repo.changed_files(before, tree) if before else []
        extra = undeclared_changes(changed, conflicts, declared)
        if extra:
            return None, f"changed files beyond the conflicts, undeclared: {', '.join(extra)}"
        commit = self.repo.commit_tree(tree, [old, self.head], self.message, self.identity)
        if self.verify:
            result = verify_commit(
                self.repo, commit, self.verify, scratch=self.directory / f".verify-{self.task_id}",
                log=self.log.with_suffix(".verify.log"), timeout=self.verify_timeout,
                on_start=self._gate_started,
            )  # fmt: skip
            self.switch.ended()
            if not result.ok:
                return None, f"the merge gate failed: {result.reason}"
        if any(f.blamed == self.task_id for f in findings):
            return None, "the resolver changed shared state (tampered)"
        subject = self.message.partition("\n")[0]
        crash_point("resolution-between-gate-and-update-ref")
        if not self.shared.move_target(commit, old, f"coordinator: {subject}", self.identity):
            return None, "the target moved while the resolver ran"
        crash_point("resolution-after-update-ref")
        return commit, ""

    def _gate_started(self, pid: int) -> None:
        self.switch.started(pid)
        self.events.put(ResolverStarted(self.task_id, pid, _create_time(pid)))

    def _run_resolver(self, path: Path, marker: Path, conflicts: Sequence[str], old: str) -> str:
        """Run the resolver agent in ``path``; "" when it says it is done, else why not."""
        prompts = self.files_root / "resolve"
        prompts.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)
        merged = self._merged_specs(conflicts, old)
        prompt = resolver_prompt(self.spec, merged, conflicts)
        prompt_file = prompts / f"{self.task_id}.md"
        prompt_file.write_text(prompt, encoding="utf-8")
        spec_file = prompts / f"{self.task_id}.spec.md"
        spec_file.write_text(prompt, encoding="utf-8")
        values = {
            "task_id": self.task_id, "spec": str(spec_file), "prompt_file": str(prompt_file),
            "prompt": prompt, "worktree": str(path), "marker": str(marker), "base": old,
            "run_id": self.run_id, "python": sys.executable,
        }  # fmt: skip
        extra = {
            **self.agent.env, "COORDINATOR_ATTEMPT": str(self.attempt), "COORDINATOR_RESOLVE": "1",
            "COORDINATOR_RESOLVER": self.resolver, "COORDINATOR_CONFLICTS": "\n".join(conflicts),
        }  # fmt: skip
        env = agent_env(os.environ, values, extra)
        argv = render_argv(self.agent.command, values)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            started = processes.start(argv, cwd=path, env=env, stdout=out,
                                      stderr=processes.STDOUT, new_session=True)  # fmt: skip
            if started.popen is None:
                return started.error or "the resolver could not start"
            proc = started.popen
            self.switch.started(proc.pid)
            self.events.put(ResolverStarted(self.task_id, proc.pid, _create_time(proc.pid)))
            try:
                code = proc.wait(timeout=self.agent.timeout)
            except processes.TimeoutExpired:
                kill_tree(proc.pid, None)
                proc.wait()
                return timed_out().reason
            finally:
                self.switch.ended(proc.pid)
        completion = by_exit(read_marker(marker), code)
        return "" if completion.ok else completion.reason

    def _merged_specs(self, conflicts: Sequence[str], old: str) -> list[SpecText]:
        """The specs of the tasks merged since the task's base that touched these paths."""
        if not self.base:
            return []
        found: list[SpecText] = []
        wanted = set(conflicts)
        for info in self.repo.first_parent_log(old, self.base, merges_only=True):
            other = info.trailers.get(TRAILER_TASK)
            if other is None or other == self.task_id or not info.parents:
                continue
            if wanted & set(self.repo.changed_files(info.parents[0], info.sha)):
                found.append(self.specs.get(other, SpecText(other, other, "")))
        return found


def _create_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _holds_markers(path: Path) -> bool:
    try:
        return has_conflict_markers(path.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        return False  # the resolver deleted it: a resolution like any other
    except IsADirectoryError:
        return False
