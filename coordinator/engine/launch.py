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
from coordinator.core.prompt import dependencies_text, footprint_text, render_prompt, uses
from coordinator.io.agents import LaunchSpec
from coordinator.io.gitrepo import GitRepo
from coordinator.io.history import TaskRecord, task_history
from coordinator.io.runfiles import RunFiles, render_spec
from coordinator.project import Project


class Prompts:
    """Renders each task's prompt from its agent type's template (``core.prompt``).

    What a dependency changed is read from git: its merge commit on the target (found by its
    trailer, whichever run landed it) against that merge's first parent.
    """

    def __init__(self, project: Project, repo: GitRepo, target: str) -> None:
        self.project = project
        self.repo = repo
        self.target = target
        # The specs' own dependencies: a run's plan drops the ones merged by earlier runs.
        self.depends_on = {spec.id: spec.depends_on for spec in project.specs}
        self._landed: dict[str, TaskRecord] = {}

    def render(self, task: Task, values: dict[str, str]) -> str:
        template = self.project.prompt_template(task.agent)
        fill = {
            **values,
            "title": task.spec.title or task.id,
            "agent": task.agent,
            "instructions": task.spec.body,
            "footprint": footprint_text(task.footprint),
            "dependencies": "",
        }
        if uses(template, "dependencies"):
            fill["dependencies"] = self._dependencies(task.id)
        return render_prompt(template, fill)

    def _dependencies(self, task_id: str) -> str:
        deps = self.depends_on.get(task_id, ())
        if any(dep not in self._landed for dep in deps):
            self._landed = task_history(self.repo, self.target)  # one landed since last read
        changes: list[tuple[str, str | None, list[str]]] = []
        for dep in deps:
            record = self._landed.get(dep)
            if record is None or record.reverted:
                changes.append((dep, None, []))
            else:
                files = self.repo.changed_files(f"{record.commit}^1", record.commit)
                changes.append((dep, record.commit, files))
        return dependencies_text(changes)


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
    prompts: Prompts | None = None,
) -> LaunchSpec:
    """Write the prompt and spec copies, clear a stale marker, and render argv and env.

    The prompt file (``{prompt_file}``, and ``{prompt}`` as one argument) is rendered from the
    agent type's template by ``prompts``; without one it is the spec body. ``{spec}`` stays a
    copy of the spec."""
    prompt = files.prompt(task.id)
    spec_copy = files.spec(task.id)
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
    if prompts is not None:
        values["prompt"] = prompts.render(task, values)
    prompt.write_text(values["prompt"], encoding="utf-8")
    spec_copy.write_text(render_spec(task.spec), encoding="utf-8")
    marker.unlink(missing_ok=True)
    argv = render_argv(agent.command, values)
    env = agent_env(os.environ, values, {**agent.env, "COORDINATOR_ATTEMPT": str(attempt)})
    return LaunchSpec(task.id, argv, worktree, env, log, log_limit)
