"""What one agent launch gets: its prompt and spec files, its argv and its environment.

Spec text only ever reaches the agent as whole argv elements, files and environment values:
placeholders are filled in one pass over the configured template, never through a shell. The
``[worktree] setup`` command gets the same values and environment as the agent it prepares for.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from coordinator.core.argv import agent_env, render_argv
from coordinator.core.config import AgentConfig
from coordinator.core.models import Task
from coordinator.io.agents import LaunchSpec
from coordinator.io.runfiles import RunFiles, render_spec


def launch_values(
    task: Task,
    *,
    files: RunFiles,
    worktree: Path,
    marker: Path,
    base: str,
    run_id: str,
    slot: int | None = None,
    port: int | None = None,
) -> dict[str, str]:
    """Write the prompt and spec copies, clear a stale marker; return the placeholder values."""
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
    if slot is not None and port is not None:
        values |= {"slot": str(slot), "port": str(port)}
    return values


def command_env(agent: AgentConfig, values: Mapping[str, str], attempt: int) -> dict[str, str]:
    """The environment of the agent (and of its setup): ours, its type's ``env``, ours again."""
    return agent_env(os.environ, values, {**agent.env, "COORDINATOR_ATTEMPT": str(attempt)})


def prepare_launch(
    task: Task,
    *,
    agent: AgentConfig,
    values: Mapping[str, str],
    attempt: int,
    log: Path,
    log_limit: int,
) -> LaunchSpec:
    """The agent's argv and environment, from ``launch_values``."""
    argv = render_argv(agent.command, values)
    env = command_env(agent, values, attempt)
    return LaunchSpec(task.id, argv, Path(values["worktree"]), env, log, log_limit)
