"""Tables of tasks that stay readable in any width: ids whole, paths on lines of their own.

A branch or log path is 60-80 characters; in a table column it is folded mid-path at 80
columns, and even at 160. So tables hold the short facts (id, state, merge commit, why) and
each unmerged task's branch and log follow on one line each, which a terminal may wrap but
rich never breaks: they stay whole when copied.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

STATE_STYLE = {
    "pending": "dim",
    "running": "cyan",
    "done": "blue",
    "merging": "blue",
    "verifying": "bright_blue",
    "resolving": "bright_magenta",
    "merged": "green",
    "changed": "yellow",
    "reverted": "yellow",
    "failed": "red",
    "conflict": "magenta",
    "skipped": "yellow",
    "cancelled": "yellow",
    "never-run": "dim",
    "dropped": "red",
}


def short_path(path: str | None, root: Path) -> str:
    """``path`` relative to the repository root when it is inside it (what a user can paste
    from there), else as it is."""
    if not path:
        return ""
    try:
        rel = os.path.relpath(path, root)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def id_column(table: Table, name: str = "task") -> None:
    """An id column never folded mid-id (the other columns give way first)."""
    table.add_column(name, no_wrap=True, overflow="ellipsis")


def state_text(state: str) -> Text:
    return Text(state, style=STATE_STYLE.get(state, ""))


def first_line(text: str | None) -> str:
    """A reason's first line: a gate's output tail follows it in the log, not in a table."""
    lines = (text or "").strip().splitlines()
    return lines[0] + (" ..." if len(lines) > 1 else "") if lines else ""


def print_locations(console: Console, rows: Sequence[tuple[str, str, str, str]]) -> None:
    """``(id, state, branch, log)`` of tasks whose work is not merged: one line each."""
    for task_id, state, branch, log in rows:
        parts = [f"branch {branch}" if branch else "", f"log {log}" if log else ""]
        where = ", ".join(p for p in parts if p)
        if where:
            console.print(f"  {task_id} ({state}): {where}", highlight=False, soft_wrap=True)
