"""The I/O half of a run report: read the store, git and the specs, hand them to the model.

The store says what happened (runs, tasks, attempts, events); git adds each merge's diffstat
(one ``git log`` for all of them); the specs as they are now give the DAG, the footprint
sources and the simulated schedule. Specs that no longer load do not stop the report: it is
drawn without the DAG edges and the planned schedule, and says why.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

from coordinator.core.models import TaskSpec
from coordinator.core.plan import Plan
from coordinator.core.planner import build_plan
from coordinator.errors import CoordinatorError
from coordinator.io.gitrepo import GitRepo
from coordinator.io.runfiles import store_path
from coordinator.io.store import NoRunsError, Store, UnknownRunError
from coordinator.project import load_project
from coordinator.report.model import RunFacts


def read_run(repo: GitRepo, run_id: str | None = None) -> RunFacts:
    """Everything the report of ``run_id`` (default: the last run) shows."""
    with Store.open_readonly(store_path(repo.git_dir)) as store:
        run_id = run_id or store.last_run_id()
        if run_id is None:
            raise NoRunsError.at(store.path)
        run = store.run(run_id)
        if run is None:
            known = ", ".join(store.run_ids()[-5:]) or "none"
            raise UnknownRunError(f"--run: no run {run_id!r} is recorded; known runs: {known}")
        tasks = store.tasks(run_id)
        attempts = store.attempts(run_id)
        events = store.events(run_id)
    merges = [t.merge_commit for t in tasks if t.merge_commit]
    diffstats = repo.merge_diffstats(merges)
    plan, caps, notes = _run_plan(repo.root, run.target, run.instances, [t.task_id for t in tasks])
    return RunFacts(
        run=run,
        tasks=tasks,
        attempts=attempts,
        events=events,
        now=time.time(),
        diffstats=diffstats,
        plan=plan,
        caps=caps,
        notes=notes,
    )


def _run_plan(
    root: Path, target: str, instances: int, ids: Sequence[str]
) -> tuple[Plan | None, dict[str, int], list[str]]:
    """The run's tasks as the specs describe them now, with the dependencies among them."""
    try:
        project = load_project(root, target=target)
        caps = {name: project.config.agent_cap(name, instances) for name in project.config.agents}
        specs = _restrict(project.specs, ids)
        plan = build_plan(specs, project.config, project.repo_paths, instances=instances,
                          caps=caps, predictor=project.predictor)  # fmt: skip
    except CoordinatorError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        note = f"no task graph or planned schedule: the specs do not load now ({first})"
        return None, {}, [note]
    notes = []
    planned = set(plan.ids)  # a set: ``Plan.ids`` builds a new tuple on every read
    missing = [i for i in ids if i not in planned]
    if missing:
        notes.append(
            f"{len(missing)} task(s) of this run have no spec any more, so no edges in the "
            f"graph: {', '.join(missing[:10])}" + (" ..." if len(missing) > 10 else "")
        )
    return plan, caps, notes


def _restrict(specs: Sequence[TaskSpec], ids: Sequence[str]) -> list[TaskSpec]:
    """The specs of ``ids`` only, with dependencies outside them dropped (as ``run`` does)."""
    wanted = set(ids)
    return [
        dataclasses.replace(s, depends_on=tuple(d for d in s.depends_on if d in wanted))
        for s in specs
        if s.id in wanted
    ]
