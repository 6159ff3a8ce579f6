"""The four faces of ``coordinator plan``: a rich table for people, JSON, Graphviz dot, Mermaid.

The JSON shape is a promise to users' scripts: keys may be added, never renamed or dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from coordinator.core.durations import format_duration
from coordinator.core.models import Conflict
from coordinator.core.plan import Plan
from coordinator.core.sharing import suggest_shared, why_waived
from coordinator.core.simulate import Schedule

_SOURCE_MARK = {
    "declared": "D",
    "files-section": "F",
    "mentioned": "M",
    "symbols": "S",
    "retrieval": "R",
    "history": "H",
}


def plan_json(
    plan: Plan,
    schedule: Schedule,
    instances: int,
    *,
    warnings: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The documented JSON object (seconds everywhere), plus a few additive extras.

    ``conflicts`` keeps its first shape, ``[a, b, [paths]]``, where a pair kept apart because
    a footprint is unknown has ``["(unknown footprint: exclusive)"]`` for paths;
    ``unknown_footprint_conflicts`` lists those pairs as objects naming the unknown tasks.
    """
    conflicts, unknown = _conflicts(plan)
    data = {
        "tasks": [
            {
                "id": t.id,
                "agent": t.agent,
                "depends_on": list(t.spec.depends_on),
                "footprint": list(t.footprint.patterns),
                "priority": t.spec.priority,
                "estimate": t.spec.estimate,
                "footprint_sources": {c.pattern: str(c.source) for c in t.footprint.claims},
                "footprint_confidence": {c.pattern: c.confidence for c in t.footprint.claims},
                "exclusive": t.footprint.exclusive,
                "title": t.spec.title,
                "spec": t.spec.source,
                "isolation": t.isolation,
            }
            for t in plan.tasks
        ],
        "conflicts": conflicts,
        "critical_path": list(plan.critical_path),
        "schedule": [
            {"id": e.id, "start": e.start, "end": e.end, "slot": e.slot} for e in schedule.entries
        ],
        "makespan": schedule.makespan,
        "sequential": schedule.sequential,
        "lower_bound": schedule.lower_bound,
        "instances": instances,
        "speedup": schedule.speedup,
        "warnings": list(plan.warnings if warnings is None else warnings),
        "unknown_footprint_conflicts": unknown,
        "waived": [
            {"a": c.a, "b": c.b, "paths": list(c.paths), "why": _why(plan, c)} for c in plan.waived
        ],
        "suggested_shared": [
            {"path": p, "conflicts": n} for p, n in suggest_shared(plan.conflicts)
        ],
    }
    data.update(extra or {})
    return data


def _why(plan: Plan, conflict: Conflict) -> str:
    return why_waived(conflict.paths, plan.shared, plan.overlap_mode)


def _conflicts(plan: Plan) -> tuple[list[list[Any]], list[dict[str, Any]]]:
    """The conflict list, and the pairs in it kept apart because a footprint is unknown (not
    for shared paths), naming those tasks. A separate short list: a plan of 10,000 tasks has
    200,000 conflicts, and an object per pair would double the output."""
    exclusive = {t.id for t in plan.tasks if t.footprint.exclusive}
    short: list[list[Any]] = []
    unknown: list[dict[str, Any]] = []
    for c in plan.conflicts:
        short.append([c.a, c.b, list(c.paths)])
        if c.a in exclusive or c.b in exclusive:
            which = [t for t in (c.a, c.b) if t in exclusive]
            unknown.append({"a": c.a, "b": c.b, "unknown_footprint": which})
    return short, unknown


def render_json(
    plan: Plan,
    schedule: Schedule,
    instances: int,
    *,
    warnings: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """``plan_json`` with one task, conflict or schedule entry per line.

    Readable and greppable like indented JSON, but each item goes through the C encoder in one
    call: ``indent=2`` takes the pure-Python encoder, 0.75 s for a 10,000-task plan.
    """
    encode = json.JSONEncoder().encode
    lines = ["{"]
    items = list(plan_json(plan, schedule, instances, warnings=warnings, extra=extra).items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, list) and value:
            lines.append(f"  {encode(key)}: [")
            lines.extend(f"    {encode(item)}," for item in value[:-1])
            lines.append(f"    {encode(value[-1])}")
            lines.append(f"  ]{comma}")
        else:
            lines.append(f"  {encode(key)}: {encode(value)}{comma}")
    lines.append("}")
    return "\n".join(lines)


def _quote(text: str) -> str:
    """A DOT double-quoted string. DOT itself only unescapes a backslash-quote there; Graphviz
    then reads a label's backslash-n as a line break and a doubled backslash as one. So a
    backslash is doubled, a quote escaped, and a real newline becomes backslash-n, once."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped + '"'


def render_dot(plan: Plan) -> str:
    """Dependencies as solid edges, conflicts as dashed undirected edges."""
    lines = ["digraph coordinator {", "  rankdir=LR;", "  node [shape=box];"]
    critical = set(plan.critical_path)
    for t in plan.tasks:
        style = ", penwidth=2" if t.id in critical else ""
        label = f"{t.id}\n({t.agent})"
        lines.append(f"  {_quote(t.id)} [label={_quote(label)}{style}];")
    for t in plan.tasks:
        lines.extend(f"  {_quote(dep)} -> {_quote(t.id)};" for dep in plan.deps[t.id])
    for c in plan.conflicts:
        lines.append(
            f"  {_quote(c.a)} -> {_quote(c.b)} "
            "[dir=none, style=dashed, color=red, constraint=false];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_mermaid(plan: Plan) -> str:
    """Mermaid ids must be simple; tasks are numbered and labelled with their real id."""
    node = {t.id: f"t{i}" for i, t in enumerate(plan.tasks)}
    lines = ["flowchart LR"]
    for t in plan.tasks:
        lines.append(f'  {node[t.id]}["{t.id} ({t.agent})"]')
    for t in plan.tasks:
        lines.extend(f"  {node[dep]} --> {node[t.id]}" for dep in plan.deps[t.id])
    lines.extend(f"  {node[c.a]} -.- {node[c.b]}" for c in plan.conflicts)
    return "\n".join(lines) + "\n"


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
        mark = _SOURCE_MARK.get(str(claim.source), "?")
        sure = "" if claim.confidence >= 1 else f" {claim.confidence:.2f}"
        text.append(f" [{mark}]{sure}", style="dim")
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


def _conflict_parts(plan: Plan, limit: int | None) -> list[Any]:
    """The conflicts table, the waived ones, and which files serialize the plan the most."""
    found: list[Any] = []
    if plan.conflicts:
        conflicts, shown = _table(f"Conflicts ({len(plan.conflicts)})", len(plan.conflicts), limit)
        conflicts.add_column("task", no_wrap=True)
        conflicts.add_column("task", no_wrap=True)
        conflicts.add_column("shared paths", overflow="fold")
        for c in plan.conflicts[:shown]:
            conflicts.add_row(c.a, c.b, ", ".join(c.paths))
        found.append(conflicts)
    else:
        found.append(Text("Conflicts: none"))
    if plan.waived:
        waived, shown = _table(
            f"Waived conflicts ({len(plan.waived)}): these run side by side, their results "
            "meet in the merge", len(plan.waived), limit,
        )  # fmt: skip
        for column in ("task", "task", "shared paths", "why"):
            waived.add_column(column, overflow="fold")
        for c in plan.waived[:shown]:
            waived.add_row(c.a, c.b, ", ".join(c.paths), _why(plan, c))
        found.append(waived)
    if suggestions := suggest_shared(plan.conflicts):
        listed = ", ".join(f"{path} ({n} conflicts)" for path, n in suggestions)
        found.append(
            Text.assemble(
                ("Serialize the most: ", "bold"),
                listed,
                "  (candidates for [overlap] shared when their edits merge cleanly)",
            )
        )
    return found


def render_text(
    console: Console,
    plan: Plan,
    schedule: Schedule,
    instances: int,
    *,
    limit: int | None = DEFAULT_ROWS,
    notes: Sequence[str] = (),
    warnings: Sequence[str] | None = None,
) -> None:
    """The at-a-glance view: tasks, conflicts, critical path, simulated schedule, summary.

    Each table shows at most ``limit`` rows (None or 0: all). A table of thousands of rows is
    read by nobody and takes rich tens of seconds to lay out; the summary lines and the JSON
    form still cover everything.
    """
    critical = set(plan.critical_path)
    tasks, shown = _table(f"Tasks ({len(plan.tasks)})", len(plan.tasks), limit)
    tasks.add_column("id", no_wrap=True)  # ids stay whole; the other columns give way
    tasks.add_column("agent", overflow="fold")
    tasks.add_column("isolation", no_wrap=True)
    # Wide enough for the longest dependency id, so ids wrap between, never inside, them.
    longest = max((len(d) for t in plan.tasks[:shown] for d in t.spec.depends_on), default=1)
    tasks.add_column("depends on", min_width=min(longest, 40), overflow="fold")
    tasks.add_column("footprint [source confidence]", overflow="fold")
    # Columns that would say the same for every task ("0", "-") make room for the others.
    shown_tasks = plan.tasks[:shown]
    with_prio = any(t.spec.priority for t in shown_tasks)
    with_estimate = any(t.spec.estimate is not None for t in shown_tasks)
    if with_prio:
        tasks.add_column("prio", no_wrap=True)
    if with_estimate:
        tasks.add_column("estimate", no_wrap=True)
    for t in shown_tasks:
        cells: list[Any] = [
            Text(t.id, style="bold" if t.id in critical else ""),
            t.agent,
            t.isolation,
            ", ".join(t.spec.depends_on) or "-",
            _footprint_text(plan, t.id),
        ]
        if with_prio:
            cells.append(str(t.spec.priority))
        if with_estimate:
            cells.append(format_duration(t.spec.estimate) if t.spec.estimate is not None else "-")
        tasks.add_row(*cells)
    parts: list[Any] = [Text(note, style="bold") for note in notes]
    parts.append(tasks)
    parts.extend(_conflict_parts(plan, limit))
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
    timeline.add_column("id", no_wrap=True)
    for column in ("slot", "start", "end"):
        timeline.add_column(column, no_wrap=True)
    timeline.add_column("timeline", no_wrap=True, overflow="crop")
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
            "  (D declared, F files section, M mentioned in the body, S symbols, R retrieval,"
            " H history)",
        )
    )
    for warning in plan.warnings if warnings is None else warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    console.print(Group(*parts))
