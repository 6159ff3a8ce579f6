"""The text face of ``coordinator plan``: rich tables for people, cut to a readable length.

Split from ``coordinator.ui.plan_output`` (the machine formats) because laying out tables is a
job of its own; ``plan_output`` re-exports ``render_text`` and ``DEFAULT_ROWS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from coordinator.core.durations import format_duration
from coordinator.core.estimates import EstimateSource
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
_ESTIMATE_NOTE = {
    EstimateSource.SPEC: "",
    EstimateSource.HISTORY: " (history)",
    EstimateSource.AGENT_MEDIAN: " (agent median)",
    EstimateSource.DEFAULT: " (default)",
}


def why(plan: Plan, conflict: Conflict) -> str:
    """Why ``[overlap]`` waived ``conflict``: the shared globs, or the optimistic mode."""
    return why_waived(conflict.paths, plan.shared, plan.overlap_mode)


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
            waived.add_row(c.a, c.b, ", ".join(c.paths), why(plan, c))
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
    # Learned estimates are worth a column even where no spec gives one (then so are defaults).
    learned = (EstimateSource.HISTORY, EstimateSource.AGENT_MEDIAN)
    with_estimate = any(
        t.spec.estimate is not None or plan.estimate_source(t.id) in learned for t in shown_tasks
    )
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
            cells.append(_estimate_text(plan, t.id))
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
    estimates = estimate_summary(plan)
    if estimates:
        parts.append(Text(estimates))
    for warning in plan.warnings if warnings is None else warnings:
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
