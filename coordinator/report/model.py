"""The report's data: what a run (or a plan) was, as one JSON-able dict the page draws.

Pure: the records come from the store and git through ``coordinator.report.gather``; this module
only arranges them. Tasks are referred to by their index in ``tasks`` everywhere else in the
dict (bars, edges, events), which keeps a 1,000-task report small.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coordinator.core.plan import Plan
from coordinator.core.simulate import Schedule, lower_bound, simulate
from coordinator.report.layout import dag_layout
from coordinator.report.timeline import Bar, build_bars, merge_lanes

if TYPE_CHECKING:
    from coordinator.io.store import AttemptRecord, EventRecord, RunRecord, TaskRecord

DATA_VERSION = 1
# Conflict edges beyond this many are counted, not drawn: overlapping pairs can grow with the
# square of the tasks, and a selected task still shows its own conflicts in the table.
MAX_CONFLICT_EDGES = 2000
MAX_MESSAGE = 2000  # characters of one event message kept in the page
USAGE_KEYS = ("input_tokens", "output_tokens", "cost_usd")
_SOURCE_MARK = {"declared": "D", "files-section": "F", "mentioned": "M"}


@dataclass(frozen=True)
class RunFacts:
    """Everything a run report shows, as read from the store, git and the specs."""

    run: RunRecord
    tasks: Sequence[TaskRecord]
    attempts: Sequence[AttemptRecord]
    events: Sequence[EventRecord]
    now: float
    diffstats: Mapping[str, str] = field(default_factory=dict)
    plan: Plan | None = None  # the run's tasks as the specs describe them now (None: unreadable)
    caps: Mapping[str, int] = field(default_factory=dict)
    notes: Sequence[str] = ()


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def usage_of(record: object) -> dict[str, Any] | None:
    """Tokens and cost of a task when the store knows them (a ``usage`` mapping, or columns)."""
    usage = getattr(record, "usage", None)
    if isinstance(usage, Mapping):
        values = {key: usage.get(key) for key in USAGE_KEYS}
    else:
        values = {key: getattr(record, key, None) for key in USAGE_KEYS}
    return values if any(v is not None for v in values.values()) else None


def git_commands(task: TaskRecord) -> list[str]:
    """The plain git commands that show what a task did, merged or not."""
    if task.merge_commit:
        m = task.merge_commit[:12]
        return [
            f"git show --stat {m}",
            f"git diff {m}^1 {m}",
            f"git log --oneline {m}^1..{m}^2",
        ]
    commands = []
    if task.branch and task.base:
        branch = shlex.quote(task.branch)
        commands += [f"git log --oneline {task.base[:12]}..{branch}"]
        commands += [f"git diff {task.base[:12]} {branch}"]
    if task.log:
        commands.append(f"less {shlex.quote(task.log)}")
    return commands


def _dag(
    ids: Sequence[str],
    deps: Mapping[str, Sequence[str]],
    conflicts: Sequence[tuple[str, str, Sequence[str]]],
    critical: Sequence[str],
) -> dict[str, Any]:
    index = {task_id: i for i, task_id in enumerate(ids)}
    layout = dag_layout(ids, deps)
    dep_edges = [[index[d], index[t]] for t in ids for d in deps.get(t, ()) if d in index]
    conflict_edges = [
        [index[a], index[b], list(paths)] for a, b, paths in conflicts if a in index and b in index
    ]
    return {
        "col": layout.column,
        "row": [round(r, 2) for r in layout.row],
        "depth": layout.depth,
        "columns": layout.columns,
        "rows": layout.rows,
        "deps": dep_edges,
        "conflicts": conflict_edges[:MAX_CONFLICT_EDGES],
        "conflicts_total": len(conflict_edges),
        "critical": [index[t] for t in critical if t in index],
    }


def _plan_task_fields(plan: Plan | None, task_id: str) -> dict[str, Any]:
    try:
        task = plan.task(task_id) if plan is not None else None
    except KeyError:
        task = None  # a task of the run whose spec is gone
    if plan is None or task is None:
        return {"title": "", "estimate": None, "depends_on": [], "sources": {}, "priority": 0}
    return {
        "title": task.spec.title or "",
        "estimate": task.spec.estimate,
        "depends_on": list(plan.deps.get(task_id, ())),
        "sources": {c.pattern: _SOURCE_MARK.get(str(c.source), "?") for c in task.footprint.claims},
        "priority": task.spec.priority,
    }


def _schedule_rows(schedule: Schedule, index: Mapping[str, int]) -> list[list[float]]:
    return [[index[e.id], e.slot, round(e.start, 3), round(e.end, 3)] for e in schedule.entries]


def _planned(
    plan: Plan | None, instances: int, caps: Mapping[str, int], measured: Mapping[str, float]
) -> tuple[Schedule | None, str, float | None]:
    """The simulated schedule (estimates when every task has one, else the measured agent
    times), its basis, and the lower bound with the measured times."""
    if plan is None or not plan.tasks:
        return None, "", None
    real = {task_id: measured.get(task_id, 0.0) for task_id in plan.ids}
    bound = lower_bound(plan, instances, caps, real)
    if all(t.spec.estimate is not None for t in plan.tasks):
        return simulate(plan, instances=instances, caps=caps), "estimates", bound
    return simulate(plan, instances=instances, caps=caps, durations=real), "measured", bound


def run_data(facts: RunFacts) -> dict[str, Any]:
    """The dict a run report is drawn from."""
    run = facts.run
    ids = [t.task_id for t in facts.tasks]
    index = {task_id: i for i, task_id in enumerate(ids)}
    bars, lanes = build_bars(
        facts.tasks, facts.attempts, facts.events, origin=run.started_at, now=facts.now
    )
    tail_lanes = merge_lanes(bars)
    measured: dict[str, float] = {}
    for bar in bars:
        measured[bar.task] = measured.get(bar.task, 0.0) + bar.agent_seconds
    plan = facts.plan
    schedule, basis, bound = _planned(plan, run.instances, facts.caps, measured)
    end = run.finished_at if run.finished_at is not None else facts.now
    makespan = max(0.0, end - run.started_at)
    work = sum(measured.values())
    if bound is None:
        bound = max(max(measured.values(), default=0.0), work / max(1, run.instances))
    tasks = [_run_task(t, plan, facts.diffstats) for t in facts.tasks]
    deps = {t: [d for d in (plan.deps.get(t, ()) if plan else ()) if d in index] for t in ids}
    conflicts = [(c.a, c.b, c.paths) for c in plan.conflicts] if plan else []
    events = [
        [_r(e.at - run.started_at), index.get(e.task_id or "", -1), e.kind, _message(e)]
        for e in facts.events
        if e.kind not in ("phase", "gate-log")
    ]
    return {
        "version": DATA_VERSION,
        "kind": "run",
        "run": {
            "id": run.run_id,
            "state": run.state,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "target": run.target,
            "base": run.base,
            "instances": run.instances,
            "options": run.options,
            "notes": list((run.summary or {}).get("notes", [])) + list(facts.notes),
        },
        "generated_at": facts.now,
        "tasks": tasks,
        "stats": {
            "makespan": _r(makespan),
            "work": _r(work),
            "speedup": round(work / makespan, 3) if makespan > 0 else None,
            "lower_bound": _r(bound),
            "instances": run.instances,
            "planned_makespan": _r(schedule.makespan) if schedule else None,
            "planned_sequential": _r(schedule.sequential) if schedule else None,
            "planned_lower_bound": _r(schedule.lower_bound) if schedule else None,
            "planned_basis": basis,
        },
        "lanes": lanes,
        "merge_lanes": tail_lanes,
        "bars": [_bar_row(bar, index) for bar in bars],
        "planned": _schedule_rows(schedule, index) if schedule else [],
        "dag": _dag(ids, deps, conflicts, plan.critical_path if plan else ()),
        "events": events,
    }


def _bar_row(bar: Bar, index: Mapping[str, int]) -> list[Any]:
    phases = [[name, round(s, 3), round(e, 3)] for name, s, e in bar.phases]
    return [
        index[bar.task],
        bar.attempt,
        bar.lane,
        round(bar.start, 3),
        round(bar.end, 3),
        bar.outcome,
        bar.reason,
        phases,
        bar.tail_lane,
    ]


def _message(event: EventRecord) -> str:
    text = str(event.data.get("message", ""))
    phases = event.data.get("phases_ms")
    if event.kind == "timing" and isinstance(phases, Mapping):
        text = "coordinator's own time: " + ", ".join(f"{k} {v:.0f} ms" for k, v in phases.items())
    if summary := event.data.get("summary"):
        text = f"{text}: {summary}" if text else str(summary)
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."


def _run_task(task: TaskRecord, plan: Plan | None, diffstats: Mapping[str, str]) -> dict[str, Any]:
    fields = _plan_task_fields(plan, task.task_id)
    sources: Mapping[str, str] = fields.pop("sources")
    return {
        "id": task.task_id,
        "agent": task.agent or "",
        "node": task.node or "",  # the Ray node it ran on ("": the coordinator's machine)
        "state": task.state,
        "reason": task.reason or "",
        "summary": task.summary or "",
        "attempts": max(1, task.attempt) if task.started_at is not None else 0,
        "branch": task.branch or "",
        "worktree": task.worktree or "",
        "log": task.log or "",
        "base": task.base or "",
        "merge": task.merge_commit or "",
        "diffstat": diffstats.get(task.merge_commit or "", ""),
        "predicted": [[p, sources.get(p, "")] for p in task.predicted_files],
        "changed": list(task.changed_files),
        "violations": list(task.violations),
        "usage": usage_of(task),
        "commands": git_commands(task),
        "started": task.started_at,
        "finished": task.finished_at,
        "merged": task.merged_at,
        **fields,
    }


def plan_data(plan: Plan, schedule: Schedule, instances: int) -> dict[str, Any]:
    """The dict ``plan --format html`` draws: the DAG and the simulated schedule, no run."""
    ids = list(plan.ids)
    index = {task_id: i for i, task_id in enumerate(ids)}
    tasks = []
    for task in plan.tasks:
        fields = _plan_task_fields(plan, task.id)
        sources: Mapping[str, str] = fields.pop("sources")
        tasks.append(
            {
                "id": task.id,
                "agent": task.agent,
                "state": "planned",
                "predicted": [[p, sources.get(p, "")] for p in task.footprint.patterns],
                "exclusive": task.footprint.exclusive,
                **fields,
            }
        )
    return {
        "version": DATA_VERSION,
        "kind": "plan",
        "tasks": tasks,
        "stats": {
            "instances": instances,
            "planned_makespan": _r(schedule.makespan),
            "planned_sequential": _r(schedule.sequential),
            "planned_lower_bound": _r(schedule.lower_bound),
            "planned_basis": "estimates",
            "critical_length": _r(plan.critical_length),
        },
        "planned": _schedule_rows(schedule, index),
        "dag": _dag(
            ids,
            plan.deps,
            [(c.a, c.b, c.paths) for c in plan.conflicts],
            plan.critical_path,
        ),
        "warnings": list(plan.warnings),
    }
