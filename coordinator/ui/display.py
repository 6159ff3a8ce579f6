"""How a run looks: a rich live table on a terminal, plain lines off one, or JSON lines.

The engine hands every event to one ``Reporter``; reporters only render, they never decide.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from coordinator.core.durations import format_duration
from coordinator.core.usage import Resources, Usage, format_resources, format_usage
from coordinator.io.store import iso_ms

_STATE_STYLE = {
    "pending": "dim",
    "running": "cyan",
    "done": "blue",
    "merging": "blue",
    "verifying": "bright_blue",
    "merged": "green",
    "failed": "red",
    "conflict": "magenta",
    "skipped": "yellow",
    "cancelled": "yellow",
}


@dataclass(frozen=True)
class RunEvent:
    kind: str
    at: float
    task_id: str | None = None
    message: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskRow:
    id: str
    agent: str
    state: str
    attempt: int
    started_at: float | None
    finished_at: float | None
    worktree: str
    note: str = ""
    usage: str = ""  # tokens and cost so far, as ``format_usage`` writes them
    resources: str = ""  # peak memory and CPU so far


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    target: str
    wall: float
    agent_time: float
    max_parallel: int
    counts: Mapping[str, int]
    unmerged: Sequence[Mapping[str, str]]
    exit_code: int
    notes: Sequence[str] = ()
    usage: Usage = field(default_factory=Usage)  # every agent's, added up
    resources: Resources = field(default_factory=Resources)  # the highest peak, CPU added up

    @property
    def speedup(self) -> float:
        return self.agent_time / self.wall if self.wall > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "target": self.target,
            "wall_seconds": round(self.wall, 3),
            "agent_seconds": round(self.agent_time, 3),
            "speedup": round(self.speedup, 3),
            "max_parallel": self.max_parallel,
            "counts": dict(self.counts),
            "unmerged": [dict(u) for u in self.unmerged],
            "exit_code": self.exit_code,
            "notes": list(self.notes),
            "usage": self.usage.as_dict(),
            "resources": self.resources.as_dict(),
        }


class Reporter(Protocol):
    def start(self, run_id: str, target: str, total: int) -> None: ...
    def event(self, event: RunEvent) -> None: ...
    def update(self, rows: Sequence[TaskRow]) -> None: ...
    def summary(self, summary: RunSummary) -> None: ...
    def close(self) -> None: ...


class PlainReporter:
    """One line per event: for logs, pipes and cron mail."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def start(self, run_id: str, target: str, total: int) -> None:
        self._line(f"run {run_id}: {total} tasks -> {target}")

    def event(self, event: RunEvent) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(event.at))
        who = f" {event.task_id}" if event.task_id else ""
        text = f" {event.message}" if event.message else ""
        self._line(f"{stamp}{who} {event.kind}{text}")

    def update(self, rows: Sequence[TaskRow]) -> None:
        return None

    def summary(self, summary: RunSummary) -> None:
        for line in summary_lines(summary):
            self._line(line)

    def close(self) -> None:
        self.stream.flush()

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class JsonReporter:
    """JSON lines: one object per event and a final ``summary`` object, for scripts."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def start(self, run_id: str, target: str, total: int) -> None:
        self._emit({"event": "run-started", "run_id": run_id, "target": target, "tasks": total})

    def event(self, event: RunEvent) -> None:
        record: dict[str, Any] = {"event": event.kind, "at": iso_ms(event.at)}
        if event.task_id:
            record["task"] = event.task_id
        if event.message:
            record["message"] = event.message
        record.update(event.data)
        self._emit(record)

    def update(self, rows: Sequence[TaskRow]) -> None:
        return None

    def summary(self, summary: RunSummary) -> None:
        self._emit({"event": "summary", **summary.as_dict()})

    def close(self) -> None:
        self.stream.flush()

    def _emit(self, record: Mapping[str, Any]) -> None:
        print(json.dumps(record, default=str), file=self.stream, flush=True)


class LiveReporter:
    """A live table of every task (state, elapsed, worktree or reason) redrawn as events come."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self._rows: Sequence[TaskRow] = ()
        self._log: list[str] = []
        self._title = ""
        self._live = Live(console=self.console, refresh_per_second=4, get_renderable=self._render)

    def start(self, run_id: str, target: str, total: int) -> None:
        self._title = f"run {run_id}: {total} tasks -> {target}"
        self._live.start()

    def event(self, event: RunEvent) -> None:
        if event.kind in {
            "failed",
            "conflict",
            "skipped",
            "violation",
            "warning",
            "retry",
            "waiting",
            "budget",
            "agent-failed",
        }:
            who = f"{event.task_id}: " if event.task_id else ""
            self._log.append(f"{event.kind}: {who}{event.message}")

    def update(self, rows: Sequence[TaskRow]) -> None:
        self._rows = rows
        self._live.refresh()

    def summary(self, summary: RunSummary) -> None:
        self._live.stop()
        for line in summary_lines(summary):
            self.console.print(line, highlight=False)

    def close(self) -> None:
        if self._live.is_started:
            self._live.stop()

    def _render(self) -> Group:
        now = time.time()
        table = Table(title=self._title, title_justify="left", expand=False)
        for column in ("task", "agent", "state", "try", "elapsed", "used", "worktree / why"):
            table.add_column(column, overflow="fold")
        for row in self._rows:
            elapsed = ""
            if row.started_at is not None:
                elapsed = format_duration((row.finished_at or now) - row.started_at)
            table.add_row(
                row.id,
                row.agent,
                Text(row.state, style=_STATE_STYLE.get(row.state, "")),
                str(row.attempt) if row.attempt else "",
                elapsed,
                "; ".join(filter(None, (row.usage, row.resources))),
                row.note or row.worktree,
            )
        return Group(table, *(Text(line, style="yellow") for line in self._log[-8:]))


def summary_lines(summary: RunSummary) -> list[str]:
    """The closing summary, shared by every text reporter."""
    counts = summary.counts
    lines = [
        f"run {summary.run_id} finished in {format_duration(summary.wall)}: "
        f"agents worked {format_duration(summary.agent_time)}, "
        f"speedup {summary.speedup:.2f}x, up to {summary.max_parallel} at once",
        "merged {m}, failed {f}, conflict {c}, skipped {s}, cancelled {x} -> {t}".format(
            m=counts.get("merged", 0),
            f=counts.get("failed", 0),
            c=counts.get("conflict", 0),
            s=counts.get("skipped", 0),
            x=counts.get("cancelled", 0),
            t=summary.target,
        ),
    ]
    used = "; ".join(
        filter(None, (format_usage(summary.usage), format_resources(summary.resources)))
    )
    if used:
        lines.append(f"used: {used}")
    for item in summary.unmerged:
        lines.append(
            f"  not merged: {item['id']} ({item['state']}: {item.get('reason', '')}) "
            f"branch {item.get('branch') or '-'} log {item.get('log') or '-'}"
        )
    lines.extend(summary.notes)
    return lines


def make_reporter(*, json_lines: bool, stream: TextIO | None = None) -> Reporter:
    """Live view on a terminal, plain lines elsewhere, JSON lines when asked."""
    if json_lines:
        return JsonReporter(stream)
    out = stream or sys.stdout
    if out.isatty():
        return LiveReporter(Console(file=out))
    return PlainReporter(out)
