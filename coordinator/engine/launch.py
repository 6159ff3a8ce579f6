"""What one agent launch gets: its prompt and spec files, its argv and its environment.

Spec text only ever reaches the agent as whole argv elements, files and environment values:
placeholders are filled in one pass over the configured template, never through a shell.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from coordinator.core.argv import agent_env, render_argv
from coordinator.core.config import AgentConfig
from coordinator.core.models import Task
from coordinator.io.agents import LaunchSpec
from coordinator.io.runfiles import RunFiles, render_spec


def prepare_launch(
    task: Task,
    *,
    agent: AgentConfig,
    files: RunFiles,
    worktree: Path,
    marker: Path,
    base: str,
    run_id: str,
    attempt: int,
    log: Path,
    log_limit: int,
) -> LaunchSpec:
    """Write the prompt and spec copies, clear a stale marker, and render argv and env."""
    prompt = files.prompt(task.id)
    prompt.write_text(task.spec.body, encoding="utf-8")
    spec_copy = files.spec(task.id)
    spec_copy.write_text(render_spec(task.spec), encoding="utf-8")
    marker.unlink(missing_ok=True)
    values = {
        "task_id": task.id,
        "spec": str(spec_copy),
        "prompt_file": str(prompt),
        "prompt": task.spec.body,
        "worktree": str(worktree),
        "marker": str(marker),
        "base": base,
        "run_id": run_id,
        "python": sys.executable,
    }
    argv = render_argv(agent.command, values)
    env = agent_env(os.environ, values, {**agent.env, "COORDINATOR_ATTEMPT": str(attempt)})
    return LaunchSpec(task.id, argv, worktree, env, log, log_limit)
