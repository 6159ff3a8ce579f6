"""The merge queue's scratch checkouts that a run cut off leaves behind, and their removal.

A gate runs in a detached worktree ``<worktrees>/.verify-<n>`` and a resolver in
``<worktrees>/.resolve-<id>`` on a branch ``coordinator/resolving/<run>/<id>`` (the target head
with the conflicted merge in progress). A run removes both when the step ends; a coordinator
killed meanwhile leaves them. They hold no work of a task's own (the task's commits are on its
task branch, the resolver's unfinished edits are redone when the merge is tried again), so
recovery and ``clean`` remove them, except those of a run that may still be alive.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from coordinator.core.refs import RESOLVING_PREFIX
from coordinator.io.gitrepo import GitRepo

GATE_SCRATCH = ".verify-"
RESOLVE_SCRATCH = ".resolve-"


def resolving_run(branch: str) -> str:
    """The run id in a ``coordinator/resolving/<run>/<id>`` branch name."""
    return branch.removeprefix(RESOLVING_PREFIX).partition("/")[0]


def clear_scratch(repo: GitRepo, directory: Path, *, live_runs: Collection[str]) -> list[str]:
    """Remove resolving branches (with their worktrees) of runs not in ``live_runs``, and,
    when no run is live, every gate and resolver scratch worktree under ``directory``.

    Returns one line per thing removed, for the run's notes or ``clean``'s report.
    """
    notes: list[str] = []
    holders = {info.branch: info for info in repo.worktree_list() if info.branch}
    for name in sorted(repo.list_branches(RESOLVING_PREFIX)):
        if resolving_run(name) in live_runs:
            continue
        info = holders.get(name)
        if info is not None:
            repo.worktree_remove(info.path, force=True)
        repo.delete_branch(name)
        notes.append(f"removed {name}, a conflict resolution cut off with its run")
    if live_runs:
        return notes
    inside = directory.resolve()
    for info in repo.worktree_list():
        path = info.path.resolve()
        scratch = path.name.startswith((GATE_SCRATCH, RESOLVE_SCRATCH))
        if scratch and path.parent == inside and info.branch is None:
            repo.worktree_remove(info.path, force=True)
            notes.append(f"removed the scratch checkout {path.name} of a run that was cut off")
    repo.worktree_prune()
    return notes
