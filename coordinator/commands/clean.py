"""``coordinator clean``: remove worktrees and branches of merged tasks, and nothing else unasked.

Unmerged work (failed, conflicting, cancelled, set-aside branches) is kept unless the user says
``--all --force``; every kept branch is listed so nothing is forgotten.

``clean`` holds the repository lock, like ``run``: while a run (or the watching daemon) is up it
exits 75 and touches nothing, since a running task's branch has no commits of its own yet and
would look merged. Even with the lock, the tasks of a run that did not finish (its coordinator
died; its agents may still be alive) are left to the next ``run``, whose recovery stops those
agents and keeps their work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from coordinator.core.refs import (
    KEPT_PREFIXES,
    OLD_PREFIX,
    PREFIX,
    RESOLVING_PREFIX,
    TASK_BRANCH_PREFIX,
    branch_ref,
    task_branch,
    task_of_branch,
)
from coordinator.engine.scratch import clear_scratch, resolving_run
from coordinator.errors import CoordinatorError, InputError, Problem
from coordinator.io.clones import is_clone, remove_clone
from coordinator.io.gitrepo import GitRepo
from coordinator.io.lock import RepoLock
from coordinator.io.placing import unplace
from coordinator.io.runfiles import lock_path, store_path
from coordinator.io.store import Store
from coordinator.io.worktrees import Worktrees
from coordinator.project import read_config

# A task of a cut-off run in one of these states may still have a live process (agent, gate,
# resolver) in its worktree.
_UNFINISHED = frozenset({"running", "done", "pending", "merging", "verifying", "resolving"})


@dataclass
class CleanReport:
    removed_worktrees: list[str] = field(default_factory=list)
    deleted_branches: list[str] = field(default_factory=list)
    kept_branches: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # under worktrees/, not a git worktree
    unfinished: dict[str, str] = field(default_factory=dict)  # branch -> run that was cut off
    removed_scratch: list[str] = field(default_factory=list)  # cut-off gates and resolutions

    def lines(self) -> list[str]:
        out = [f"removed worktree {w}" for w in self.removed_worktrees] + self.removed_scratch
        out += [
            f"kept {b} and its worktree: run {run} did not finish (its agents may still run); "
            "the next `coordinator run` recovers it"
            for b, run in sorted(self.unfinished.items())
        ]
        out += [f"deleted branch {b}" for b in self.deleted_branches]
        out += [
            f"left {p} in place: not a worktree git knows (delete it by hand if it is junk)"
            for p in self.unknown
        ]
        out += [
            f"kept unmerged branch {b} (clean --all --force removes it)" for b in self.kept_branches
        ]
        return out or ["nothing to clean"]


def clean(
    path: Path | None, *, all_: bool = False, force: bool = False, target: str | None = None
) -> CleanReport:
    """Remove what landed on ``target`` (default: the configured one); report the rest.

    A task branch, or a set-aside ``coordinator/old/`` one, whose head the target contains holds
    nothing the target lacks, so it goes with its worktree. Branches named for an outcome
    (failed, conflict, ...) stay until ``--all --force``. Directories under the worktrees
    directory that git does not know are listed, never deleted: they may be someone's files.
    """
    if all_ and not force:
        raise InputError(
            Problem(None, "--all", "would delete unmerged work", "add --force to confirm")
        )
    report = CleanReport()
    with GitRepo.discover(path or Path.cwd()) as repo, RepoLock(lock_path(repo.git_dir), "clean"):
        config, _ = read_config(repo.root)
        live, unfinished = _unfinished_tasks(repo)
        target_name = target or config.target
        target_head = repo.rev_parse(branch_ref(target_name))
        worktrees = Worktrees(repo, config.worktrees)
        report.removed_scratch = clear_scratch(repo, worktrees.directory, live_runs=live)
        report.removed_worktrees += worktrees.remove_pool()  # idle: they hold no work
        branches = repo.list_branches(PREFIX)
        placed = _placed(repo.git_dir)
        by_branch = {w.branch: w for w in repo.worktree_list() if w.branch}
        for name, sha in sorted(branches.items()):
            if name == target_name:
                continue
            if name in unfinished:
                report.unfinished[name] = unfinished[name]
                continue
            if name.startswith(RESOLVING_PREFIX):  # of a live run: clear_scratch left it
                report.unfinished[name] = resolving_run(name)
                continue
            is_task = name.startswith(TASK_BRANCH_PREFIX)
            landable = is_task or name.startswith(OLD_PREFIX)
            merged = target_head is not None and landable and repo.is_ancestor(sha, target_head)
            if not merged and not (all_ and force):
                if is_task or name.startswith(KEPT_PREFIXES):
                    report.kept_branches.append(name)
                continue
            if not is_task and not name.startswith(KEPT_PREFIXES):
                continue
            info = by_branch.get(branch_ref(name)) or by_branch.get(name)
            clone = _clone_path(worktrees, name) if is_task else None
            if info is not None:
                task_id = Path(info.path).name
                held = unplace(Path(info.path), repo.root, placed.get(task_id, ()))
                worktrees.remove(task_id, force=all_ and force, held=bool(held))
                report.removed_worktrees.append(str(info.path))
            elif clone is not None and is_clone(clone, repo):  # its work was collected
                remove_clone(clone)
                report.removed_worktrees.append(str(clone))
            repo.delete_branch(name)
            report.deleted_branches.append(name)
        report.unknown = worktrees.prune()
    return report


def _clone_path(worktrees: Worktrees, branch: str) -> Path | None:
    """Where the task of ``branch`` had its clone, if its name can be a task's at all."""
    try:
        return worktrees.path(task_of_branch(branch))
    except InputError:
        return None
def _placed(git_dir: Path) -> dict[str, list[str]]:
    """Files the coordinator copied or linked into each task's worktree (its last run's):
    taken back before the worktree is removed, so that they do not count as work in it."""
    db = store_path(git_dir)
    if not db.exists():
        return {}
    try:
        with Store.open_readonly(db) as store:
            return {k: r.placed for k, r in store.latest_task_records().items() if r.placed}
    except CoordinatorError:
        return {}


def _unfinished_tasks(repo: GitRepo) -> tuple[set[str], dict[str, str]]:
    """Runs the store still calls running (with the lock held: runs whose coordinator died),
    and their unfinished tasks' branches. Their agents (a resolver, a gate) may outlive them,
    so their worktrees and branches are theirs until the next run's recovery has stopped them.
    """
    db = store_path(repo.git_dir)
    if not db.exists():
        return set(), {}
    runs: set[str] = set()
    found: dict[str, str] = {}
    with Store.open_readonly(db) as store:
        for run_id in store.run_ids():
            record = store.run(run_id)
            if record is None or record.state != "running":
                continue
            runs.add(run_id)
            for task in store.tasks(run_id):
                if task.state in _UNFINISHED:
                    found[task_branch(task.task_id)] = run_id
    return runs, found
