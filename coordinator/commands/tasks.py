"""``coordinator tasks``: every spec's state across runs, and what is left to do.

``status`` shows one run. This shows the project: each spec merged (with its merge commit),
changed since it landed, reverted, failed, in conflict, or never run, from the target's
trailers and the store's records of every run (see ``coordinator.io.overview``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from coordinator.core.text import plural
from coordinator.errors import CoordinatorError
from coordinator.io.gitrepo import GitRepo
from coordinator.io.overview import CHANGED, MERGED, counts, task_overview
from coordinator.project import load_project
from coordinator.ui.task_table import (
    first_line,
    id_column,
    print_locations,
    short_path,
    state_text,
)

_NOTES = {
    CHANGED: "spec changed since it landed (the daemon reruns it)",
    "reverted": "reverted (`run --only ID` runs it again)",
    "dropped": "a run merged it, but the target no longer has that merge",
}


def read_tasks(path: Path | None, target: str | None = None) -> dict[str, Any]:
    """The documented ``tasks --json`` object: ``target``, ``counts``, ``tasks``."""
    project = load_project(path, target=target)
    branch = target or project.config.target
    with GitRepo.discover(project.root) as repo:
        views = task_overview(repo, project.specs, branch)
    return {
        "target": branch,
        "counts": counts(views),
        "tasks": [view.as_dict() for view in views],
    }


def summary_line(data: dict[str, Any]) -> str:
    """``12 tasks on T: 5 merged, 1 changed, 2 failed, 4 never-run``."""
    found = data["counts"]
    parts = ", ".join(f"{n} {state}" for state, n in found.items())
    return f"{plural(len(data['tasks']), 'task')} on {data['target']}: {parts or 'none'}"


def render_tasks(console: Console, data: dict[str, Any], root: Path) -> None:
    table = Table(title=summary_line(data), title_justify="left")
    id_column(table)
    for column in ("agent", "state", "merge"):
        table.add_column(column, no_wrap=True)
    table.add_column("note", overflow="fold")
    locations = []
    for task in data["tasks"]:
        state = task["state"]
        landed = state in (MERGED, CHANGED, "reverted")
        table.add_row(
            task["id"],
            task["agent"],
            state_text(state),
            (task["commit"] or "")[:12] if landed else "",
            _NOTES.get(state) or first_line(task["reason"]),
        )
        if task["branch"] or task["log"]:
            log = short_path(task["log"], root)
            locations.append((task["id"], state, task["branch"] or "", log))
    console.print(table)
    print_locations(console, locations)


def overall_line(path: Path | None) -> str | None:
    """One line for ``status``: every task's state across runs, or None when the specs cannot
    be read (``status`` still shows the run)."""
    try:
        data = read_tasks(path)
    except CoordinatorError:
        return None
    return f"across runs: {summary_line(data)} (`coordinator tasks` lists each)"
