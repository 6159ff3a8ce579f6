"""The four faces of ``coordinator plan``: a rich table for people, JSON, Graphviz dot, Mermaid.

The JSON shape is a promise to users' scripts: keys may be added, never renamed or dropped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from types import GeneratorType
from typing import Any, TextIO

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from coordinator.core.durations import format_duration
from coordinator.core.estimates import EstimateSource
from coordinator.core.plan import Plan
from coordinator.core.simulate import Schedule

_SOURCE_MARK = {"declared": "D", "files-section": "F", "mentioned": "M"}
_ESTIMATE_NOTE = {
    EstimateSource.SPEC: "",
    EstimateSource.HISTORY: " (history)",
    EstimateSource.AGENT_MEDIAN: " (agent median)",
    EstimateSource.DEFAULT: " (default)",
}


def _json_fields(plan: Plan, schedule: Schedule, instances: int) -> Iterator[tuple[str, Any]]:
    """The documented JSON object's keys and values in order (seconds everywhere), plus a few
    additive extras. ``conflicts`` is a lazy iterable: five million pairs are never a list."""
    yield (
        "tasks",
        [
            {
                "id": t.id,
                "agent": t.agent,
                "depends_on": list(t.spec.depends_on),
                "footprint": list(t.footprint.patterns),
                "priority": t.spec.priority,
                "estimate": t.spec.estimate,
                "estimate_source": str(plan.estimate_source(t.id)),
                "estimate_used": plan.weights.get(t.id),
                "footprint_sources": {c.pattern: str(c.source) for c in t.footprint.claims},
                "exclusive": t.footprint.exclusive,
                "title": t.spec.title,
                "spec": t.spec.source,
            }
            for t in plan.tasks
        ],
    )
    yield "conflicts", ([c.a, c.b, list(c.paths)] for c in plan.conflicts)
    yield "critical_path", list(plan.critical_path)
    yield (
        "schedule",
        [{"id": e.id, "start": e.start, "end": e.end, "slot": e.slot} for e in schedule.entries],
    )
    yield "makespan", schedule.makespan
    yield "sequential", schedule.sequential
    yield "lower_bound", schedule.lower_bound
    yield "instances", instances
    yield "speedup", schedule.speedup
    yield "warnings", list(plan.warnings)


def plan_json(plan: Plan, schedule: Schedule, instances: int) -> dict[str, Any]:
    """The documented JSON object as one dict (every conflict in a list: small plans only)."""
    return {
        key: list(value) if key == "conflicts" else value
        for key, value in _json_fields(plan, schedule, instances)
    }


def iter_json(plan: Plan, schedule: Schedule, instances: int) -> Iterator[str]:
    """The JSON object line by line, one task, conflict or schedule entry per line.

    Readable and greppable like indented JSON, but each item goes through the C encoder in one
    call (``indent=2`` takes the pure-Python encoder, 0.75 s for a 10,000-task plan), and the
    conflicts are encoded as they stream from the plan, so the output of a plan with millions
    of them never sits in memory.
    """
    encode = json.JSONEncoder().encode
    yield "{"
    fields = list(_json_fields(plan, schedule, instances))
    for i, (key, value) in enumerate(fields):
        comma = "," if i < len(fields) - 1 else ""
        if isinstance(value, list | GeneratorType):
            items = iter(value)
            first = next(items, _END)
            if first is _END:
                yield f"  {encode(key)}: []{comma}"
                continue
            yield f"  {encode(key)}: ["
            previous = first
            for item in items:
                yield f"    {encode(previous)},"
                previous = item
            yield f"    {encode(previous)}"
            yield f"  ]{comma}"
        else:
            yield f"  {encode(key)}: {encode(value)}{comma}"
    yield "}"


_END = object()


def render_json(plan: Plan, schedule: Schedule, instances: int) -> str:
    """``iter_json`` as one string."""
    return "\n".join(iter_json(plan, schedule, instances))


def write_lines(stream: TextIO, lines: Iterable[str]) -> None:
    """Write ``lines`` as they come; a reader that stops early (``| head``) ends it quietly.

    The rest of the output goes to /dev/null, so that Python's own flush at exit does not fail
    on the closed pipe either.
    """
    try:
        for line in lines:
            stream.write(line)
            stream.write("\n")
        stream.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def iter_dot(plan: Plan) -> Iterator[str]:
    """Dependencies as solid edges, conflicts as dashed undirected edges, line by line."""
    yield from ("digraph coordinator {", "  rankdir=LR;", "  node [shape=box];")
    critical = set(plan.critical_path)
    for t in plan.tasks:
        style = ", penwidth=2" if t.id in critical else ""
        label = f"{t.id}\\n({t.agent})"
        yield f"  {_quote(t.id)} [label={_quote(label)}{style}];"
    for t in plan.tasks:
        yield from (f"  {_quote(dep)} -> {_quote(t.id)};" for dep in plan.deps[t.id])
    for c in plan.conflicts:
        yield (
            f"  {_quote(c.a)} -> {_quote(c.b)} "
            "[dir=none, style=dashed, color=red, constraint=false];"
        )
    yield "}"


def render_dot(plan: Plan) -> str:
    return "\n".join(iter_dot(plan)) + "\n"


def iter_mermaid(plan: Plan) -> Iterator[str]:
    """Mermaid ids must be simple; tasks are numbered and labelled with their real id."""
    node = {t.id: f"t{i}" for i, t in enumerate(plan.tasks)}
    yield "flowchart LR"
    for t in plan.tasks:
        yield f'  {node[t.id]}["{t.id} ({t.agent})"]'
    for t in plan.tasks:
        yield from (f"  {node[dep]} --> {node[t.id]}" for dep in plan.deps[t.id])
    yield from (f"  {node[c.a]} -.- {node[c.b]}" for c in plan.conflicts)


def render_mermaid(plan: Plan) -> str:
    return "\n".join(iter_mermaid(plan)) + "\n"


def _footprint_text(plan: Plan, task_id: str) -> Text:
    footprint = plan.task(task_id).footprint
    if footprint.exclusive:
        return Text("(unknown: exclusive)", style="yellow")
    if not footprint.claims:
        return Text("(none: shared)", style="yellow")
    text = Text()
    for i, claim in enumerate(footprint.claims):
        if i:
            text.append("\n")
        text.append(claim.pattern)
        text.append(f" [{_SOURCE_MARK.get(str(claim.source), '?')}]", style="dim")
    return text


def _gantt_bar(start: float, end: float, makespan: float, width: int = 32) -> str:
    if makespan <= 0:
        return ""
    left = round(start / makespan * width)
    right = max(left + 1, round(end / makespan * width))
    return " " * left + "█" * (right - left)


DEFAULT_ROWS = 50


def _table(title: str, total: int, limit: int | None) -> tuple[Table, int]:
    """A titled table for ``total`` rows and how many of them it shows; a caption counts the
    rest when ``limit`` cuts it short."""
    shown, caption = total, None
    if limit and total > limit:
        shown = limit
        caption = f"... and {total - limit} more (--limit 0 shows all; --format json lists all)"
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    return table, shown


def render_text(
    console: Console,
    plan: Plan,
    schedule: Schedule,
    instances: int,
    *,
    limit: int | None = DEFAULT_ROWS,
) -> None:
    """The at-a-glance view: tasks, conflicts, critical path, simulated schedule, summary.

    Each table shows at most ``limit`` rows (None or 0: all). A table of thousands of rows is
    read by nobody and takes rich tens of seconds to lay out; the summary lines and the JSON
    form still cover everything.
    """
    critical = set(plan.critical_path)
    tasks, shown = _table(f"Tasks ({len(plan.tasks)})", len(plan.tasks), limit)
    for column in ("id", "agent", "depends on", "footprint [D/F/M]", "prio", "estimate"):
        tasks.add_column(column, overflow="fold")
    for t in plan.tasks[:shown]:
        tasks.add_row(
            Text(t.id, style="bold" if t.id in critical else ""),
            t.agent,
            ", ".join(t.spec.depends_on) or "-",
            _footprint_text(plan, t.id),
            str(t.spec.priority),
            _estimate_text(plan, t.id),
        )
    parts: list[Any] = [tasks]
    if plan.conflicts:
        conflicts, shown = _table(f"Conflicts ({len(plan.conflicts)})", len(plan.conflicts), limit)
        conflicts.add_column("task")
        conflicts.add_column("task")
        conflicts.add_column("shared paths", overflow="fold")
        for c in plan.conflicts[:shown]:
            conflicts.add_row(c.a, c.b, ", ".join(c.paths))
        parts.append(conflicts)
    else:
        parts.append(Text("Conflicts: none"))
    parts.append(
        Text.assemble(
            ("Critical path: ", "bold"),
            " -> ".join(plan.critical_path),
            f"  ({format_duration(plan.critical_length)})",
        )
    )
    timeline, shown = _table(
        f"Simulated schedule, {instances} instances", len(schedule.entries), limit
    )
    for column in ("id", "slot", "start", "end", "timeline"):
        timeline.add_column(column)
    for e in sorted(schedule.entries, key=lambda e: (e.start, e.slot))[:shown]:
        timeline.add_row(
            e.id,
            str(e.slot),
            format_duration(e.start),
            format_duration(e.end),
            Text(_gantt_bar(e.start, e.end, schedule.makespan), style="cyan"),
        )
    parts.append(timeline)
    parts.append(
        Text.assemble(
            ("Makespan ", "bold"),
            format_duration(schedule.makespan),
            "  sequential ",
            format_duration(schedule.sequential),
            "  speedup ",
            (f"{schedule.speedup:.2f}x", "green"),
            "  lower bound ",
            format_duration(schedule.lower_bound),
            "  (D declared, F files section, M mentioned in the body)",
        )
    )
    estimates = estimate_summary(plan)
    if estimates:
        parts.append(Text(estimates))
    for warning in plan.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    console.print(Group(*parts))


def _estimate_text(plan: Plan, task_id: str) -> str:
    weight = plan.weights.get(task_id)
    if weight is None:
        return "-"
    return format_duration(weight) + _ESTIMATE_NOTE[plan.estimate_source(task_id)]


def estimate_summary(plan: Plan) -> str | None:
    """Where the estimates came from, when not every one was written in its spec.

    Says plainly when tasks got the default: a schedule built on made-up durations should not
    look as sure as one built on real ones.
    """
    counts = {source: 0 for source in EstimateSource}
    defaults: list[float] = []
    for task in plan.tasks:
        source = plan.estimate_source(task.id)
        counts[source] += 1
        if source == EstimateSource.DEFAULT:
            defaults.append(plan.weights.get(task.id, 0.0))
    if counts[EstimateSource.SPEC] == len(plan.tasks):
        return None
    words = {
        EstimateSource.SPEC: "from specs",
        EstimateSource.HISTORY: "from the task's past attempts",
        EstimateSource.AGENT_MEDIAN: "from its agent type's past attempts (median)",
        EstimateSource.DEFAULT: "defaulted",
    }
    parts = [f"{counts[s]} {words[s]}" for s in EstimateSource if counts[s]]
    text = "Estimates: " + ", ".join(parts)
    if defaults:
        others = len(plan.tasks) - len(defaults)
        how = "the median of the other estimates" if others else "nothing known"
        text += (
            f"; default {format_duration(defaults[0])} ({how}): add `estimate:` to those specs"
            " or run them once"
        )
    return text
