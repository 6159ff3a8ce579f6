"""``coordinator validate``: everything ``run`` would refuse, said before anything starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coordinator.core.gcpause import gc_paused
from coordinator.core.text import plural
from coordinator.errors import InputError
from coordinator.io.programs import program_problems
from coordinator.project import load_project


@dataclass(frozen=True)
class Validation:
    """What a valid project holds, for the one ``ok`` line."""

    tasks: int
    overlaps: int  # pairs of tasks whose footprints overlap and that no dependency orders
    warnings: tuple[str, ...] = ()

    def line(self) -> str:
        pairs = (
            f"{plural(self.overlaps, 'pair')} will not run at the same time (footprint overlaps)"
            if self.overlaps
            else "no footprint overlaps"
        )
        return f"ok: {plural(self.tasks, 'task')}; {pairs}"


def validate(path: Path | None) -> Validation:
    """Config, specs, the plan, and each used agent type's program; ``InputError`` lists every
    problem found."""
    with gc_paused():
        project = load_project(path)
        plan = project.plan()
        overlaps = len(plan.conflicts)
    agents = {spec.agent for spec in project.specs}
    problems = program_problems(
        project.config, project.config_source, agents, project.root, project.repo_paths
    )
    if problems:
        raise InputError(problems)
    return Validation(len(plan.tasks), overlaps, plan.warnings)
