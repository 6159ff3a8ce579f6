"""Isolation modes in the engine: what ``clone`` and ``sandbox`` change about a task's start.

``worktree`` (the default) is a linked worktree of the repository. ``clone`` gives the task a
repository of its own (``coordinator.io.clones``); ``sandbox`` is a clone whose agent runs under
bubblewrap (``coordinator.io.sandbox``), with a marker directory of its own, since it cannot
write beside other tasks' markers.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from coordinator.core.models import Task
from coordinator.engine.context import RunContext
from coordinator.io import sandbox
from coordinator.io.agents import LaunchSpec
from coordinator.io.clones import Recorded, make_clone
from coordinator.io.gitrepo import GitRepo
from coordinator.io.worktrees import Worktrees

WORKTREE, CLONE, SANDBOX = "worktree", "clone", "sandbox"


def create_clone(
    repo: GitRepo, worktrees: Worktrees, task_id: str, branch: str, base: str
) -> tuple[Path, Recorded]:
    """The task's clone where its worktree would be (an earlier leftover set aside first)."""
    path = worktrees.fresh_path(task_id)
    return path, make_clone(repo, path, branch, base)


def before_launch(ctx: RunContext, task: Task) -> None:
    """A sandboxed task's marker lives in a directory of its own (the only one it may write
    outside its clone); ``ctx.watcher.marker_path`` names it from now on."""
    if task.isolation == SANDBOX:
        ctx.watcher.own_directory(task.id, ctx.files.root / "sandbox" / task.id)


def confine(ctx: RunContext, task: Task, launch: LaunchSpec) -> LaunchSpec:
    """The launch as it runs in ``task``'s isolation mode."""
    if task.isolation != SANDBOX:
        return launch
    marker_dir = ctx.watcher.marker_path(task.id).parent
    argv = sandbox.wrap(launch.argv, task_dir=launch.cwd, writable=[marker_dir],
                        root=ctx.project.root)  # fmt: skip
    env = {**launch.env, "TMPDIR": str(sandbox.PRIVATE_TMP)}
    return dataclasses.replace(launch, argv=argv, env=env)
