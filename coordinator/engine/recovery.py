"""Resume after the coordinator itself died (SIGKILL, power loss): reconcile, never redo twice.

A run the store still calls ``running`` while nobody holds the lock was cut off. For each of its
tasks this module kills agents that outlived it (pid plus create time, and the environment scan
that catches double-forked strays), keeps every bit of their work on a branch, and hands back
the tasks whose agents had finished, so the new run merges them without rerunning the agent.
What the target's trailers say is merged is never merged again.

The hand-over is durable: a cut-off run is closed (``crashed``) only in the same store
transaction in which the next run records the finished tasks it adopts (``hand_over``), so a
coordinator killed again before that point leaves the cut-off run for the next recovery, and
one killed after it leaves the adopted tasks ``done`` in its own run, where recovery finds them.
Finished work a run could not take over (``run --only`` left it out) stays ``done`` in its
closed run and is adopted by the first later run that runs the task.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from coordinator.core.config import Identity
from coordinator.core.refs import kept_branch, task_branch
from coordinator.engine.scratch import clear_scratch
from coordinator.io.clones import collect_clone, remove_clone
from coordinator.io.gitrepo import GitRepo
from coordinator.io.markers import read_marker
from coordinator.io.placing import unplace
from coordinator.io.procs import kill_run, kill_task, kill_tree
from coordinator.io.runfiles import RunFiles, state_dir
from coordinator.io.store import Store, TaskRecord
from coordinator.io.workcheck import collect_work
from coordinator.io.worktrees import Worktrees

# States a cut-off run may leave a task in that still need recovering; in all but ``running``
# the agent had finished (``verifying``: the merge gate ran, ``resolving``: a resolver agent
# worked on its conflicted merge; either is killed by its stored pid and its environment).
_AGENT_DONE = frozenset({"done", "merging", "verifying", "resolving"})
_UNFINISHED = _AGENT_DONE | {"running"}
# The outcomes a task branch is kept under by ``ending.KeepJob``, newest kind last.
_KEPT_KINDS = ("conflict", "cancelled", "failed")
ADOPTED_BY = "adopted by run "  # the reason of a finished task another run took over


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
    cut_off: list[str] = field(default_factory=list)  # runs ``hand_over`` closes


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
    latest = store.latest_task_records()
    for run_id in store.run_ids():
        record = store.run(run_id)
        if record is None:
            continue
        modes = record.options.get("isolation") or {}
        if record.state == "running":
            # Everything carrying the run's id first, in one scan of the machine's processes
            # (one per task made recovering a run with many unfinished tasks slow); each
            # task's recorded agent tree after, for a process that dropped the id.
            if killed := kill_run(run_id, timeout=2.0):
                found.notes.append(f"killed {len(killed)} leftover agent processes of {run_id}")
            for task in store.tasks(run_id):
                clone = modes.get(task.task_id, "worktree") != "worktree"
                _recover_task(repo, store, worktrees, task, merged, identity, found, clone=clone,
                              scanned=True)  # fmt: skip
            found.cut_off.append(run_id)
            found.notes.append(f"run {run_id} was cut off; recovered its tasks")
        elif record.state == "crashed":  # finished work no run took over yet
            for task in store.tasks(run_id):
                newest = latest.get(task.task_id)
                left = task.state in _AGENT_DONE and not (task.reason or "").startswith(ADOPTED_BY)
                if left and newest is not None and newest.run_id == run_id:
                    clone = modes.get(task.task_id, "worktree") != "worktree"
                    _recover_task(repo, store, worktrees, task, merged, identity, found,
                                  clone=clone)  # fmt: skip
    # With every cut-off run's resolvers and gates killed above, no scratch checkout is
    # anyone's: a resolution or gate cut off is done again when its merge is.
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
    scanned: bool = False,
) -> None:
    """``scanned``: the run's processes were killed already; only the agent's tree is left."""
    if task.state not in _UNFINISHED:
        return
    if scanned:
        killed = kill_tree(task.pid, task.pid_create_time, timeout=2.0) if task.pid else []
    else:
        killed = kill_task(task.task_id, task.run_id, task.pid, task.pid_create_time, timeout=2.0)
    if killed:
        found.notes.append(f"{task.task_id}: killed {len(killed)} leftover agent processes")
    if task.task_id in merged:
        store.upsert_task(task.run_id, task.task_id, state="merged", reason="merged before crash")
        return
    branch = task_branch(task.task_id)
    if not repo.branch_exists(branch):
        # Its end was being recorded: the branch is already kept under the outcome's name.
        ended = _kept_by(repo, task)
        if ended is not None:
            kind, name = ended
            store.upsert_task(task.run_id, task.task_id, state=kind, branch=name,
                              reason=task.reason or "coordinator died")  # fmt: skip
            return
    if not repo.branch_exists(branch) or not task.base:
        # Cut off before its worktree was ready: nothing of it to keep (a branch of that name,
        # if any, is not this attempt's and stays for the next start to set aside).
        store.upsert_task(task.run_id, task.task_id, state="cancelled", reason="coordinator died",
                          branch=None)  # fmt: skip
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
        return  # ``hand_over`` records who took it over
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


def _kept_by(repo: GitRepo, task: TaskRecord) -> tuple[str, str] | None:
    """(outcome, branch) of the newest branch the cut-off run kept this task's work under, or
    None. A branch the record already names was kept for an earlier attempt (a retry)."""
    found: list[tuple[int, int, str, str]] = []
    for order, kind in enumerate(_KEPT_KINDS):
        n = 1
        while repo.branch_exists(name := kept_branch(kind, task.run_id, task.task_id, n)):
            if name != task.branch:
                found.append((n, order, kind, name))
            n += 1
    if not found:
        return None
    _n, _order, kind, name = max(found)
    return kind, name


def hand_over(
    store: Store, recovery: Recovery, run_id: str, adopted: Iterable[str], finished_at: float
) -> None:
    """The new run ``run_id`` takes over the finished tasks ``adopted``: record them ``done``
    in it (so a coordinator killed before it merges them leaves them for the next recovery),
    say so in the runs they come from, and close every cut-off run; all in one transaction."""
    with store.transaction():
        for task_id in adopted:
            found = recovery.adopt[task_id]
            store.upsert_task(
                run_id, task_id, state="done", branch=found.branch, worktree=str(found.worktree),
                base=found.base, log=found.log or None, summary=found.summary,
                placed=list(found.placed), reason=f"adopted from run {found.from_run}",
            )  # fmt: skip
            # ``done`` there: its agent finished in that run, and the merge is this run's.
            store.upsert_task(found.from_run, task_id, state="done",
                              reason=f"{ADOPTED_BY}{run_id}")  # fmt: skip
        close_cut_off(store, recovery, finished_at, adopted_by=run_id)


def close_cut_off(
    store: Store, recovery: Recovery, finished_at: float, *, adopted_by: str | None = None
) -> None:
    """Close the runs recovery found cut off (``crashed``)."""
    with store.transaction():
        for run_id in recovery.cut_off:
            adopted = sorted(t for t, a in recovery.adopt.items() if a.from_run == run_id)
            store.finish_run(
                run_id, state="crashed", finished_at=finished_at,
                summary={"recovered_by_next_run": True, "adopted": adopted,
                         "adopted_by": adopted_by},
            )  # fmt: skip
