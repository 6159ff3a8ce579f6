"""``coordinator status``: read the store (safe while a run writes it) and show one run.

The daemon's last cycle is part of the answer (key ``"daemon"``): an unattended setup is
checked with one command, and a daemon whose cycles found nothing to do (so no run was ever
recorded, e.g. in a fresh clone whose tasks all landed) still has something to show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from coordinator.commands.tasks import overall_line
from coordinator.core.queueview import QUEUE_KEY, empty_document, settled
from coordinator.core.usage import (
    format_resources,
    format_usage,
    resources_from_dict,
    usage_from_dict,
)
from coordinator.io.gitrepo import GitRepo
from coordinator.io.runfiles import store_path
from coordinator.io.store import NoRunsError, Store
from coordinator.project import repo_root
from coordinator.ui.task_table import first_line, id_column, print_locations, short_path, state_text

DAEMON_KEY = "daemon.last_cycle"  # the store key the daemon writes (coordinator.commands.daemon)

# A status document without a run: the documented keys, all empty.
_NO_RUN: dict[str, Any] = {
    "run_id": None,
    "state": None,
    "started_at": None,
    "finished_at": None,
    "target": None,
    "base": None,
    "instances": None,
    "summary": None,
    "tasks": [],
}


def read_status(path: Path | None, run_id: str | None = None) -> dict[str, Any]:
    """The documented status JSON of the last (or given) run, plus ``daemon`` when known.

    No store, or a store with no run and no daemon cycle, is ``NoRunsError`` (exit 1, one
    line), never an internal error.
    """
    with GitRepo.discover(path or Path.cwd()) as repo:
        db = store_path(repo.git_dir)
        if not db.exists():
            raise NoRunsError.at(db)
        with Store.open_readonly(db) as store:
            daemon = store.get_meta(DAEMON_KEY)
            try:
                data: dict[str, Any] = store.status(run_id)
            except NoRunsError:
                if run_id is not None or not daemon:
                    raise
                data = dict(_NO_RUN)
            if daemon:
                data["daemon"] = daemon
            data["queue"] = _queue(store.get_meta(QUEUE_KEY), data)
            return data


def _queue(stored: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The run's merge queue: as its run last published it while the run is (or was, when it
    was cut off) running; settled once the run finished; empty for a run that left none."""
    if not isinstance(stored, dict) or stored.get("run_id") != data["run_id"]:
        return empty_document()
    document = {k: v for k, v in stored.items() if k != "run_id"}
    return document if data["state"] == "running" else settled(document)


# States whose branch and log a user goes looking for.
_WORK_STATES = frozenset({"failed", "conflict", "cancelled", "running", "done"})


def render_status(console: Console, data: dict[str, Any], root: Path | None = None) -> None:
    """The run as a table (ids whole), then one line per task whose work is not merged with
    its branch and log (relative to ``root``), never folded into a column."""
    if data["run_id"] is None:
        console.print("no run recorded yet", highlight=False)
    else:
        base = root or Path.cwd()
        table = Table(
            title=f"run {data['run_id']} ({data['state']}) -> {data['target']}",
            title_justify="left",
        )
        id_column(table)
        for column in ("agent", "state", "try", "merge"):
            table.add_column(column, no_wrap=True)
        remote = any(task.get("node") for task in data["tasks"])  # executor = "ray"
        if remote:
            table.add_column("node", no_wrap=True)
        # Tokens and cost are per task; memory and CPU alone stay in the lines below the table,
        # so a run without usage keeps its columns wide enough for the notes.
        with_usage = any(_known(task.get("usage")) for task in data["tasks"])
        if with_usage:
            table.add_column("used", overflow="fold")
        table.add_column("note", overflow="fold")
        locations = []
        for task in data["tasks"]:
            cells = [
                task["id"],
                task["agent"] or "",
                state_text(task["state"]),
                str(task["attempt"] or ""),
                (task["merge_commit"] or "")[:12],
            ]
            if remote:
                cells.append(task.get("node") or "")
            if with_usage:
                cells.append(used(task.get("usage"), task.get("resources")))
            table.add_row(*cells, first_line(task.get("reason")))
            if task["state"] in _WORK_STATES:
                log = short_path(task["log"], base)
                locations.append((task["id"], task["state"], task["branch"] or "", log))
        console.print(table)
        if line := queue_line(data.get("queue")):
            console.print(line, highlight=False, soft_wrap=True)
        print_locations(console, locations)
        console.print(f"started {data['started_at']}  finished {data['finished_at'] or '-'}")
        if total := used(data.get("usage"), data.get("resources")):
            console.print(f"used: {total}", highlight=False)
    daemon = data.get("daemon")
    if isinstance(daemon, dict):
        console.print(daemon_line(daemon), highlight=False, soft_wrap=True)


def queue_line(queue: Any) -> str:
    """One line on the merge queue of a running run, "" when it holds nothing."""
    if not isinstance(queue, dict):
        return ""
    parts = []
    groups = queue.get("round") or []
    if groups:
        shown = " | ".join(
            "+".join(g["tasks"]) + f" ({'speculative, ' if g['speculative'] else ''}{g['gate']})"
            for g in groups
        )
        parts.append(f"{'probing' if queue.get('probe') else 'gating'} {shown}")
    if queue.get("bisecting"):
        parts.append(f"bisecting {'+'.join(queue['bisecting'])}")
    for key in ("merging", "resolving", "waiting"):
        if queue.get(key):
            parts.append(f"{key} {', '.join(queue[key])}")
    return "queue: " + "; ".join(parts) if parts else ""


def used(usage: Any, resources: Any) -> str:
    """Tokens, cost, peak memory and CPU from the status JSON's objects, "" when unknown."""
    tokens = format_usage(usage_from_dict(usage if isinstance(usage, dict) else None))
    res = resources if isinstance(resources, dict) else None
    return "; ".join(filter(None, (tokens, format_resources(resources_from_dict(res)))))


def show_status(console: Console, data: dict[str, Any], path: Path | None) -> None:
    """``render_status``, then one line on every task across runs (``coordinator tasks``)."""
    render_status(console, data, repo_root(path))
    if line := overall_line(path):
        console.print(line, highlight=False, soft_wrap=True)


def daemon_line(cycle: dict[str, Any]) -> str:
    """One line about the daemon's last cycle: when, how it ended, what it landed."""
    counts = cycle.get("counts") or {}
    done = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v) or "nothing run"
    landed = [str(item.get("id")) for item in cycle.get("landed") or []]
    text = (
        f"daemon: last cycle {cycle.get('finished_at') or '?'} exit {cycle.get('exit_code')}: "
        f"{done}"
    )
    if landed:
        text += f"; landed {', '.join(landed)}"
    if cycle.get("error"):
        text += f"; error: {cycle['error']}"
    elif cycle.get("held"):
        text += f"; waiting for a spec change: {', '.join(cycle['held'])}"
    return text


def _known(usage: Any) -> bool:
    """Whether a task's ``usage`` object says anything (its three keys are null when unknown)."""
    return isinstance(usage, dict) and any(value is not None for value in usage.values())
