"""How a run looks: a rich live table on a terminal, plain lines off one, or JSON lines.

The engine hands every event to one ``Reporter``; reporters only render, they never decide.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from coordinator.core.durations import format_duration
from coordinator.core.text import plural
from coordinator.core.usage import Resources, Usage, format_resources, format_usage
from coordinator.io.store import iso_ms

_STATE_STYLE = {
    "pending": "dim",
    "running": "cyan",
    "done": "blue",
    "merging": "blue",
    "verifying": "bright_blue",
    "resolving": "bright_magenta",
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
    node: str = ""  # the Ray node its agent runs on ("" on this machine)


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


# Below this a run's speedup (agent time / wall time) measures the coordinator's own start-up
# and merges, not parallel work, so the summary leaves it out (``--json`` still has it).
SPEEDUP_MIN_WALL = 10.0

# How an agent's end reads ("agent done (exit 0)" is the engine's wording).
_DONE_HOW = {"(exit 0)": "it exited 0", "(marker)": "it wrote its done marker"}
_BRANCH_KEPT = "; branch "


def run_title(run_id: str, target: str, total: int) -> str:
    return f"run {run_id}: {plural(total, 'task')}, merging into {target}"


def describe(event: RunEvent) -> list[str]:
    """An event as lines for a person (no internal names); [] for bookkeeping-only events.

    The first line names the task; a merge gate's output tail follows on indented lines, after
    the line that says where the work is kept.
    """
    kind, message = event.kind, event.message
    if kind == "timing":
        return []
    phrase = _PHRASES.get(kind)
    if phrase is not None:
        text = phrase(message, event.data)
    else:
        text = f"{kind}: {message}" if message else kind
    first, _, rest = text.partition("\n")
    who = f"{event.task_id}: " if event.task_id else ""
    return [who + first, *(f"    {line}" for line in rest.splitlines())]


def _agent_failed(message: str, data: Mapping[str, Any]) -> str:
    if message == "interrupted":
        return "agent stopped (interrupted)"
    if message == "timeout":
        return "agent stopped: it ran past its timeout"
    if message.startswith("could not start "):
        return message
    return f"agent failed: {message}"


def _not_merged(kind: str) -> Callable[[str, Mapping[str, Any]], str]:
    """``failed``/``conflict``/``cancelled``: the reason, then where the work is kept (the
    engine appends "; branch B kept"; a gate's multi-line output tail comes before it)."""

    def phrase(message: str, data: Mapping[str, Any]) -> str:
        reason, sep, branch = message.rpartition(_BRANCH_KEPT)
        if not sep or not branch.endswith(" kept"):
            reason, branch = message, ""
        first, _, tail = reason.partition("\n")
        first = first.removesuffix("; output tail:").rstrip(":")
        where = f"; its work is kept on branch {branch.removesuffix(' kept')}" if branch else ""
        head = f"not merged ({kind}): {first}{where}"
        return f"{head}; the output ended with:\n{tail}" if tail else head

    return phrase


def _started(message: str, data: Mapping[str, Any]) -> str:
    """``attempt 2 in /repo/worktrees/a`` (the engine's wording) -> where, and which try."""
    attempt, sep, where = message.removeprefix("attempt ").partition(" in ")
    if not sep or not attempt.isdigit():
        return f"agent started ({message})"
    again = f" (attempt {attempt})" if attempt != "1" else ""
    return f"agent started in {where}{again}"


def _killed(message: str, data: Mapping[str, Any]) -> str:
    count = len(data.get("pids") or []) or 1
    return f"stopped {plural(count, 'leftover process', 'leftover processes')} of its agent"


_PHRASES: dict[str, Callable[[str, Mapping[str, Any]], str]] = {
    "started": _started,
    "finished": lambda m, _: "agent done" + next(
        (f" ({how})" for key, how in _DONE_HOW.items() if m.endswith(key)), ""
    ),
    "agent-failed": _agent_failed,
    "killed": _killed,
    "merged": lambda m, _: f"merged {m}",
    "failed": _not_merged("failed"),
    "conflict": _not_merged("conflict"),
    "cancelled": _not_merged("cancelled"),
    "skipped": lambda m, _: f"skipped: {m}",
    "retry": lambda m, _: m,
    "violation": lambda m, _: f"warning: {m}",
    "warning": lambda m, _: f"warning: {m}",
    "verifying": lambda m, _: f"merge gate running: {m}",
    "waiting": lambda m, _: f"waiting: {m}",
    "stopping": lambda m, _: m,
    "kept": lambda m, _: m,
    "adopted": lambda m, _: f"adopted the {m}",
    "setup": lambda m, _: f"setup running: {m}",
    "setup-done": lambda m, _: f"setup done {m}",
    "setup-failed": lambda m, _: f"setup failed: {m}",
    "node": lambda m, _: f"agent running {m}",
    "node-lost": lambda m, _: f"warning: {m}",
    "budget": lambda m, _: f"budget used up: {m}",
    "admission": lambda m, _: m,
}


class PlainReporter:
    """One line per event, written for a person: for logs, pipes and cron mail."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def start(self, run_id: str, target: str, total: int) -> None:
        self._line(run_title(run_id, target, total))

    def event(self, event: RunEvent) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(event.at))
        for i, line in enumerate(describe(event)):
            self._line(f"{stamp} {line}" if i == 0 else f"{' ' * len(stamp)} {line}")

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


REDRAW_EVERY = 0.25  # seconds: the live table's own refresh rate (4 per second)


class LiveReporter:
    """A live table of every task (state, elapsed, worktree or reason) redrawn as events come."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self._rows: Sequence[TaskRow] = ()
        self._latest: Sequence[TaskRow] = ()
        self._drawn = -REDRAW_EVERY
        self._log: list[str] = []
        self._title = ""
        self._live = Live(console=self.console, refresh_per_second=4, get_renderable=self._render)

    def start(self, run_id: str, target: str, total: int) -> None:
        self._title = run_title(run_id, target, total)
        self._live.start()

    def event(self, event: RunEvent) -> None:
        kinds = {"failed", "conflict", "skipped", "violation", "warning", "retry", "waiting",
                 "budget", "agent-failed"}  # fmt: skip
        if event.kind in kinds:
            self._log.extend(describe(event)[:1])  # a gate's output tail is in its log

    def update(self, rows: Sequence[TaskRow]) -> None:
        """Called on the engine's thread after every event; the table is rebuilt at most every
        ``REDRAW_EVERY`` (rows are read here, never on the refresh thread)."""
        self._latest = rows
        now = time.monotonic()
        if now - self._drawn >= REDRAW_EVERY:
            self._drawn = now
            self._rows = list(rows)
            self._live.refresh()

    def summary(self, summary: RunSummary) -> None:
        self._rows = list(self._latest)  # the final states, whenever the last draw was
        self._live.refresh()
        self._live.stop()
        for line in summary_lines(summary):
            self.console.print(line, highlight=False)

    def close(self) -> None:
        if self._live.is_started:
            self._live.stop()

    def _render(self) -> Group:
        now = time.time()
        table = Table(title=self._title, title_justify="left", expand=False)
        remote = any(row.node for row in self._rows)
        columns = ("task", "agent", "state", "try", "elapsed", "used", "worktree / why")
        for column in columns[:-1] + (("node",) if remote else ()) + columns[-1:]:
            table.add_column(column, overflow="fold")
        for row in self._rows:
            elapsed = ""
            if row.started_at is not None:
                elapsed = format_duration((row.finished_at or now) - row.started_at)
            cells: list[str | Text] = [
                row.id,
                row.agent,
                Text(row.state, style=_STATE_STYLE.get(row.state, "")),
                str(row.attempt) if row.attempt else "",
                elapsed,
                "; ".join(filter(None, (row.usage, row.resources))),
            ]
            if remote:
                cells.append(row.node)
            table.add_row(*cells, row.note or row.worktree)
        return Group(table, *(Text(line, style="yellow") for line in self._log[-8:]))


def summary_lines(summary: RunSummary) -> list[str]:
    """The closing summary, shared by every text reporter."""
    counts = summary.counts
    total = sum(counts.values())
    first = (
        f"run {summary.run_id} finished in {format_duration(summary.wall)}: "
        f"agents worked {format_duration(summary.agent_time)}"
    )
    if summary.wall >= SPEEDUP_MIN_WALL:
        first += f", speedup {summary.speedup:.2f}x"
    first += f", up to {summary.max_parallel} at once"
    merged = f"merged {counts.get('merged', 0)} of {plural(total, 'task')} into {summary.target}"
    others = [
        f"{counts[state]} {state}"
        for state in ("failed", "conflict", "skipped", "cancelled", "pending", "done", "running")
        if counts.get(state)
    ]
    lines = [first, merged + (f"; not merged: {', '.join(others)}" if others else "")]
    used = "; ".join(
        filter(None, (format_usage(summary.usage), format_resources(summary.resources)))
    )
    if used:
        lines.append(f"used: {used}")
    for item in summary.unmerged:
        reason = str(item.get("reason") or "").strip().splitlines()
        why = f" ({item['state']}: {reason[0]})" if reason else f" ({item['state']})"
        where = ", ".join(
            f"{name} {item[name]}" for name in ("branch", "log") if item.get(name)
        )
        lines.append(f"  not merged: {item['id']}{why}" + (f"; {where}" if where else ""))
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
