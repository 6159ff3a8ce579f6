"""``coordinator plan``: what ``run`` would do now, which is only what is left.

Tasks already merged into the target (found by their trailers, as ``run`` finds them) are left
out, and so are their conflicts; reverted ones too, as ``run`` does not rerun them unasked.
``everything`` plans every spec, as before anything ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from rich.console import Console

from coordinator.core.durations import format_duration
from coordinator.core.estimates import EstimateSource
from coordinator.core.gcpause import gc_paused
from coordinator.core.plan import Plan
from coordinator.core.planner import build_plan
from coordinator.core.simulate import Schedule, simulate
from coordinator.core.text import every, plural
from coordinator.engine.runner import select
from coordinator.io.gitrepo import GitRepo
from coordinator.io.history import task_history
from coordinator.project import load_project
from coordinator.report import plan_page
from coordinator.ui.plan_output import iter_dot, iter_json, iter_mermaid, render_text, write_lines


@dataclass(frozen=True)
class PlanView:
    """A plan of what is left, with what the user should know about how it was made."""

    plan: Plan
    schedule: Schedule
    instances: int
    target: str
    total: int  # specs in the project
    merged: tuple[str, ...] = ()  # left out: already merged into the target
    reverted: tuple[str, ...] = ()  # left out: reverted on the target
    warnings: tuple[str, ...] = field(default=())  # the plan's own, plus missing estimates

    def notes(self) -> list[str]:
        """What was left out, in one line, or nothing when every spec is planned."""
        if not self.merged and not self.reverted:
            return []
        left = len(self.plan.tasks)
        if not left:
            head = f"nothing left to plan: {every(self.total)} merged"
            if self.reverted:
                head = (
                    f"nothing left to plan: {len(self.merged)} of {plural(self.total, 'task')} "
                    f"are merged and {len(self.reverted)} reverted"
                )
            return [f"{head} into {self.target} (plan --all plans every task)"]
        text = (
            f"{len(self.merged)} of {plural(self.total, 'task')} already merged into "
            f"{self.target}; planning the {left} left"
        )
        if self.reverted:
            text += f" ({len(self.reverted)} reverted left out: {', '.join(self.reverted)})"
        return [text + "; plan --all plans every task"]


def plan_project(
    path: Path | None, *, base: str | None, instances: int | None, everything: bool = False
) -> PlanView:
    """Load, leave out what landed (unless ``everything``), plan and simulate."""
    with gc_paused():  # a one-shot batch: see coordinator.core.gcpause
        project = load_project(path, base=base)
        config = project.config
        n = instances or config.instances
        caps = {name: config.agent_cap(name, n) for name in config.agents}
        specs = list(project.specs)
        merged: list[str] = []
        reverted: list[str] = []
        if not everything:
            with GitRepo.discover(project.root) as repo:
                records = task_history(repo, config.target)
            merged = [s.id for s in specs if s.id in records and not records[s.id].reverted]
            reverted = [s.id for s in specs if s.id in records and records[s.id].reverted]
            if merged or reverted:
                build_plan(specs, config, project.repo_paths)  # every spec is still checked
                specs = select(specs, (), {*merged, *reverted})
        plan = build_plan(
            specs, config, project.repo_paths, instances=n, caps=caps, predictor=project.predictor,
            history=project.history,
        )
        schedule = simulate(plan, instances=n, caps=caps)
    warnings = [*plan.warnings, *filter(None, [missing_estimates(plan)])]
    return PlanView(plan, schedule, n, config.target, len(project.specs), tuple(merged),
                    tuple(reverted), tuple(warnings))  # fmt: skip


def show_plan(view: PlanView, fmt: str, out: TextIO, *, limit: int | None) -> None:
    """Print ``view`` in ``fmt``. JSON, dot and mermaid are written as they are produced, so
    millions of conflicts stream without sitting in memory (and ``| head`` ends them quietly)."""
    the_plan, schedule, n = view.plan, view.schedule, view.instances
    if fmt == "json":
        extra = {"target": view.target, "already_merged": list(view.merged),
                 "reverted": list(view.reverted)}  # fmt: skip
        write_lines(out, iter_json(the_plan, schedule, n, warnings=view.warnings, extra=extra))
    elif fmt == "dot":
        write_lines(out, iter_dot(the_plan))
    elif fmt == "mermaid":
        write_lines(out, iter_mermaid(the_plan))
    elif fmt == "html":
        out.write(plan_page(the_plan, schedule, n))
    elif not the_plan.tasks and view.notes():
        out.write(view.notes()[0] + "\n")
    else:
        render_text(Console(file=out), the_plan, schedule, n, limit=limit, notes=view.notes(),
                    warnings=view.warnings)  # fmt: skip


def missing_estimates(plan: Plan) -> str | None:
    """A line saying which tasks have no estimate, given or learned from past attempts, and
    what the simulation assumed for them."""
    missing = [t.id for t in plan.tasks if plan.estimate_source(t.id) == EstimateSource.DEFAULT]
    if not missing:
        return None
    low, high = min(plan.weights[i] for i in missing), max(plan.weights[i] for i in missing)
    assumed = format_duration(low)
    if high > low:
        assumed = f"{format_duration(low)} to {format_duration(high)}"
    if len(missing) == len(plan.tasks):
        return (
            f"no task has an estimate: the simulated schedule assumes {assumed} for each "
            "(add estimate: to specs for a real one)"
        )
    shown = ", ".join(missing[:10])
    if len(missing) > 10:
        shown += f" and {len(missing) - 10} more"
    verb = "has" if len(missing) == 1 else "have"
    return (
        f"{plural(len(missing), 'task')} {verb} no estimate ({shown}): the simulated schedule "
        f"assumes {assumed} for {'it' if len(missing) == 1 else 'each'}"
    )
