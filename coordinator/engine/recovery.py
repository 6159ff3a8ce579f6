"""Resume after the coordinator itself died (SIGKILL, power loss): reconcile, never redo twice.

A run the store still calls ``running`` while nobody holds the lock was cut off. For each of its
tasks this module kills agents that outlived it (pid plus create time, and the environment scan
that catches double-forked strays), keeps every bit of their work on a branch, and hands back
the tasks whose agents had finished, so the new run merges them without rerunning the agent.
What the target's trailers say is merged is never merged again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from coordinator.core.config import Identity
from coordinator.core.refs import kept_branch, task_branch
from coordinator.engine.scratch import clear_scratch
from coordinator.io.clones import collect_clone, remove_clone
from coordinator.io.gitrepo import GitRepo
from coordinator.io.markers import read_marker
from coordinator.io.placing import unplace
from coordinator.io.procs import kill_task
from coordinator.io.runfiles import RunFiles, state_dir
from coordinator.io.store import Store, TaskRecord
from coordinator.io.workcheck import collect_work
from coordinator.io.worktrees import Worktrees

# States a cut-off run may leave a task in that still need recovering; in all but ``running``
# the agent had finished (``verifying``: the merge gate ran, ``resolving``: a resolver agent
# worked on its conflicted merge; either is killed by its stored pid and its environment).
_AGENT_DONE = frozenset({"done", "merging", "verifying", "resolving"})
_UNFINISHED = _AGENT_DONE | {"running"}


@dataclass(frozen=True)
class Adopted:
    """A task whose agent finished before the coordinator died: its work is on ``branch``."""

    task_id: str
    branch: str
    base: str
    worktree: Path
    summary: str
    log: str
    from_run: str
    placed: tuple[str, ...] = ()  # files the coordinator copied or linked in: never committed


@dataclass
class Recovery:
    adopt: dict[str, Adopted] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def recover(
    repo: GitRepo,
    store: Store,
    worktrees: Worktrees,
    *,
    merged: set[str],
    identity: Identity,
) -> Recovery:
    """Close every run that was cut off and say what the next run can adopt."""
    found = Recovery()
    for run_id in store.run_ids():
        record = store.run(run_id)
        if record is None or record.state != "running":
            continue
        modes = record.options.get("isolation") or {}
        for task in store.tasks(run_id):
            clone = modes.get(task.task_id, "worktree") != "worktree"
            _recover_task(repo, store, worktrees, task, merged, identity, found, clone=clone)
        store.finish_run(
            run_id,
            state="crashed",
            finished_at=time.time(),
            summary={"recovered_by_next_run": True, "adopted": sorted(found.adopt)},
        )
        found.notes.append(f"run {run_id} was cut off; recovered its tasks")
    # With every cut-off run closed (and its resolvers and gates killed above), no scratch
    # checkout is anyone's: a resolution or gate cut off is done again when its merge is.
    found.notes.extend(clear_scratch(repo, worktrees.directory, live_runs=()))
    worktrees.prune()
    found.notes.extend(worktrees.reconcile_pool())
    return found


def _recover_task(
    repo: GitRepo,
    store: Store,
    worktrees: Worktrees,
    task: TaskRecord,
    merged: set[str],
    identity: Identity,
    found: Recovery,
    *,
    clone: bool = False,
) -> None:
    if task.state not in _UNFINISHED:
        return
    killed = kill_task(task.task_id, task.run_id, task.pid, task.pid_create_time, timeout=2.0)
    if killed:
        found.notes.append(f"{task.task_id}: killed {len(killed)} leftover agent processes")
    if task.task_id in merged:
        store.upsert_task(task.run_id, task.task_id, state="merged", reason="merged before crash")
        return
    branch = task_branch(task.task_id)
    if not repo.branch_exists(branch) or not task.base:
        store.upsert_task(task.run_id, task.task_id, state="cancelled", reason="coordinator died")
        return
    worktree = Path(task.worktree) if task.worktree else worktrees.path(task.task_id)
    if _finished(store, repo.git_dir, task):
        found.adopt[task.task_id] = Adopted(
            task.task_id,
            branch,
            task.base,
            worktree,
            task.summary or "",
            task.log or "",
            task.run_id,
            tuple(task.placed),
        )
        store.upsert_task(task.run_id, task.task_id, state="done", reason="adopted by next run")
        return
    # The agent was cut off mid-work: keep what it did on a branch that says so.
    # The same collection as a finished task's: stale locks, a detached or switched HEAD and
    # leftover changes are all handled, so nothing the agent wrote is lost.
    message = f"WIP {task.task_id}: interrupted when the coordinator died"
    if clone:  # a task clone: read back as a finished one is, then deleted like a worktree
        index = state_dir(repo.git_dir) / "runs" / task.run_id / f"index-{task.task_id}"
        collect_clone(repo, clone=worktree, branch=branch, base=task.base, identity=identity,
                      message=message, index=index, keep_out=task.placed)  # fmt: skip
        remove_clone(worktree)
    else:
        collect_work(repo, worktree=worktree, branch=branch, base=task.base, identity=identity,
                     message=message, keep_out=task.placed)  # fmt: skip
        unplace(worktree, repo.root, task.placed)
    kept = kept_branch("interrupted", task.run_id, task.task_id)
    worktrees.remove(task.task_id, force=False)
    repo.rename_branch(branch, kept)
    store.upsert_task(
        task.run_id, task.task_id, state="cancelled", reason="coordinator died", branch=kept
    )
    found.notes.append(f"{task.task_id}: interrupted work kept as {kept}; it runs again")


def _finished(store: Store, git_dir: Path, task: TaskRecord) -> bool:
    """The agent's completion was observed as done (store), or its done marker exists."""
    if task.state in _AGENT_DONE:
        return True
    attempts = store.attempts(task.run_id, task.task_id)
    if attempts and attempts[-1].outcome == "done":
        return True
    marker = RunFiles(state_dir(git_dir) / "runs" / task.run_id).markers / f"{task.task_id}.json"
    content = read_marker(marker)
    return content is not None and content.valid and content.status == "done"
