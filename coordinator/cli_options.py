"""Options shared by the commands of ``coordinator.cli``, and its longer help texts.

``-C DIR`` works before the command name, as git takes it (``coordinator -C DIR status``), and
after it (``coordinator status -C DIR``); the one after wins.
"""

from __future__ import annotations

from pathlib import Path

import click

_REPO_KEY = "coordinator.repo_path"


def _repo_default(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """``-C`` after the subcommand wins; else the one given before it, as git takes it."""
    if value is not None:
        return value
    found: Path | None = ctx.meta.get(_REPO_KEY)
    return found


def _remember_repo(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.meta[_REPO_KEY] = value  # meta is shared by every context of one invocation


repo_option = click.option(
    "-C",
    "--repo",
    "repo_path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    callback=_repo_default,
    help="Run as if started in this directory (like git -C).",
)


repo_before_command = click.option(
    "-C",
    "--repo",
    "repo_path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    expose_value=False,
    is_eager=True,
    callback=_remember_repo,
    help="Run as if started in this directory (like git -C); before or after the command.",
)

STATUS_JSON_HELP = (
    "Print one JSON object: run_id, state, started_at, finished_at, target, base, instances, "
    "summary, and tasks (a list of objects with id, agent, state, attempt, started_at, "
    "finished_at, merged_at, branch, worktree, base, merge_commit, predicted_files, "
    "changed_files, violations, log, reason, summary); plus daemon, the last daemon cycle, "
    "when there was one. Times are ISO 8601 UTC. See README, Status."
)
TASKS_JSON_HELP = (
    "Print one JSON object: target, counts (state -> number), and tasks (a list of objects "
    "with id, agent, spec, state, commit, run_id, branch, log, reason, spec_digest, "
    "landed_digest, changed_since_landed). See README."
)
