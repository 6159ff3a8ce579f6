"""The four faces of ``coordinator plan``: a rich table for people, JSON, Graphviz dot, Mermaid.

The JSON shape is a promise to users' scripts: keys may be added, never renamed or dropped.
The machine formats are produced line by line (``iter_json``, ``iter_dot``, ``iter_mermaid``),
so a plan with millions of conflicts is written as it streams and never sits in memory; the
text face lives in ``coordinator.ui.plan_text``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import GeneratorType
from typing import Any, TextIO

from coordinator.core.plan import Plan
from coordinator.core.sharing import suggest_shared
from coordinator.core.simulate import Schedule
from coordinator.ui.plan_text import DEFAULT_ROWS, estimate_summary, render_text, why

__all__ = [
    "DEFAULT_ROWS", "estimate_summary", "iter_dot", "iter_json", "iter_mermaid", "plan_json",
    "render_dot", "render_json", "render_mermaid", "render_text", "write_lines",
]  # fmt: skip


def _json_fields(
    plan: Plan,
    schedule: Schedule,
    instances: int,
    *,
    warnings: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Iterator[tuple[str, Any]]:
    """The documented JSON object's keys and values in order (seconds everywhere), plus a few
    additive extras. ``conflicts`` is a lazy iterable: five million pairs are never a list.

    ``conflicts`` keeps its first shape, ``[a, b, [paths]]``, where a pair kept apart because
    a footprint is unknown has ``["(unknown footprint: exclusive)"]`` for paths;
    ``unknown_footprint_conflicts`` lists those pairs as objects naming the unknown tasks.
    """
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
                "footprint_confidence": {c.pattern: c.confidence for c in t.footprint.claims},
                "exclusive": t.footprint.exclusive,
                "title": t.spec.title,
                "spec": t.spec.source,
                "isolation": t.isolation,
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
    yield "warnings", list(plan.warnings if warnings is None else warnings)
    yield "unknown_footprint_conflicts", _unknown(plan)
    yield (
        "waived",
        [{"a": c.a, "b": c.b, "paths": list(c.paths), "why": why(plan, c)} for c in plan.waived],
    )
    yield (
        "suggested_shared",
        [{"path": p, "conflicts": n} for p, n in suggest_shared(plan.conflicts)],
    )
    yield from (extra or {}).items()


def _unknown(plan: Plan) -> Iterator[dict[str, Any]]:
    """The conflicts kept apart because a footprint is unknown (not for shared paths), naming
    those tasks. A separate short list: a plan of 10,000 tasks has 200,000 conflicts, and an
    object per pair would double the output. Streamed, and skipped when no footprint is."""
    exclusive = {t.id for t in plan.tasks if t.footprint.exclusive}
    if not exclusive:
        return
    for c in plan.conflicts:
        if c.a in exclusive or c.b in exclusive:
            which = [t for t in (c.a, c.b) if t in exclusive]
            yield {"a": c.a, "b": c.b, "unknown_footprint": which}


def plan_json(
    plan: Plan,
    schedule: Schedule,
    instances: int,
    *,
    warnings: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The documented JSON object as one dict (every conflict in a list: small plans only)."""
    return {
        key: list(value) if isinstance(value, GeneratorType) else value
        for key, value in _json_fields(plan, schedule, instances, warnings=warnings, extra=extra)
    }


def iter_json(
    plan: Plan,
    schedule: Schedule,
    instances: int,
    *,
    warnings: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Iterator[str]:
    """The JSON object line by line, one task, conflict or schedule entry per line.

    Readable and greppable like indented JSON, but each item goes through the C encoder in one
    call (``indent=2`` takes the pure-Python encoder, 0.75 s for a 10,000-task plan), and the
    conflicts are encoded as they stream from the plan, so the output of a plan with millions
    of them never sits in memory.
    """
    encode = json.JSONEncoder().encode
    yield "{"
    fields = list(_json_fields(plan, schedule, instances, warnings=warnings, extra=extra))
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


def render_json(
    plan: Plan,
    schedule: Schedule,
    instances: int,
    *,
    warnings: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """``iter_json`` as one string."""
    return "\n".join(iter_json(plan, schedule, instances, warnings=warnings, extra=extra))


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
    """A DOT double-quoted string. DOT itself only unescapes a backslash-quote there; Graphviz
    then reads a label's backslash-n as a line break and a doubled backslash as one. So a
    backslash is doubled, a quote escaped, and a real newline becomes backslash-n, once."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped + '"'


def iter_dot(plan: Plan) -> Iterator[str]:
    """Dependencies as solid edges, conflicts as dashed undirected edges, line by line."""
    yield from ("digraph coordinator {", "  rankdir=LR;", "  node [shape=box];")
    critical = set(plan.critical_path)
    for t in plan.tasks:
        style = ", penwidth=2" if t.id in critical else ""
        label = f"{t.id}\n({t.agent})"
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
