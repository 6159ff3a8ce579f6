"""Build a ``Plan`` from validated specs: footprints, the DAG, conflicts and the critical path.

This is the one place where the pure pieces meet; ``plan`` and ``run`` both call it, so what a
user previews is exactly what runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from coordinator.core.config import Config
from coordinator.core.conflicts import ConflictList, Conflicts
from coordinator.core.estimates import DurationHistory, estimate_tasks
from coordinator.core.footprint import OverlapIndex, RepoPaths
from coordinator.core.gcpause import gc_paused
from coordinator.core.graph import (
    critical_path,
    dependents_of,
    remaining_path,
    topo_order,
)
from coordinator.core.models import Footprint, Task, TaskSpec
from coordinator.core.ordering import with_chosen_rank
from coordinator.core.plan import Plan
from coordinator.core.prediction import Predictor, predict
from coordinator.core.sharing import overlap_footprints, waived
from coordinator.core.specs import validate_specs
from coordinator.errors import InputError


def check_specs(specs: Sequence[TaskSpec], config: Config) -> list[str]:
    """The cross-spec rules ``build_plan`` checks first (unknown agents and dependencies,
    duplicates, cycles): raises ``InputError`` listing every problem, else the stable
    topological order. Callers that read anything for the plan (past attempts) check first, so
    that bad input leaves everything untouched."""
    problems = validate_specs(specs, config.agents.keys())
    if problems:
        raise InputError(problems)
    ids = [s.id for s in specs]
    deps = {s.id: s.depends_on for s in specs}
    return topo_order(ids, deps, sources={s.id: s.source for s in specs})


def build_plan(
    specs: Sequence[TaskSpec],
    config: Config,
    repo: RepoPaths,
    *,
    instances: int | None = None,
    caps: Mapping[str, int] | None = None,
    predictor: Predictor | None = None,
    history: DurationHistory | None = None,
) -> Plan:
    """Validate cross-spec rules, then compute everything ``plan`` shows and ``run`` needs.

    Raises ``InputError`` listing every problem (unknown agents and dependencies, duplicates,
    cycles) so one ``validate`` pass shows the user all of them. With ``instances`` (and the
    per-type ``caps``) the plan also gets a ``rank``: the start order that simulated best on the
    estimates for that many slots (``coordinator.core.ordering``). ``predictor`` (the
    repository's index) enables the inferred footprint sources of ``footprint = "infer"``.
    Tasks without an estimate get one from ``history``, the durations of past attempts
    (``coordinator.core.estimates``).
    """
    with gc_paused():
        return _build_plan(
            specs, config, repo, instances=instances, caps=caps, predictor=predictor,
            history=history,
        )  # fmt: skip


def _build_plan(
    specs: Sequence[TaskSpec],
    config: Config,
    repo: RepoPaths,
    *,
    instances: int | None,
    caps: Mapping[str, int] | None,
    predictor: Predictor | None,
    history: DurationHistory | None,
) -> Plan:
    order = check_specs(specs, config)
    deps = {s.id: s.depends_on for s in specs}
    by_id = {s.id: s for s in specs}

    footprints: dict[str, Footprint] = {}
    warnings: list[str] = []
    for spec in specs:
        footprint, notes = predict(
            spec,
            repo,
            mode=spec.footprint_mode or config.footprint,
            unknown=config.unknown_footprint,
            predictor=predictor,
        )
        footprints[spec.id] = footprint
        warnings.extend(f"{spec.source}: {spec.id}: {note}" for note in notes)

    sharing = config.overlap
    waiving = bool(sharing.shared) or sharing.mode == "optimistic"
    seen = overlap_footprints(footprints, sharing.shared, sharing.mode) if waiving else footprints
    index = OverlapIndex(seen, repo)
    overlaps = index.claims(order)
    exclusive = [task_id for task_id in order if seen[task_id].exclusive]
    conflicts = Conflicts(order, deps, overlaps, exclusive, index.shared_paths)
    waived_list: ConflictList | tuple[()] = ()
    if waiving:
        full = OverlapIndex(footprints, repo)
        every_exclusive = [task_id for task_id in order if footprints[task_id].exclusive]
        every = Conflicts(order, deps, full.claims(order), every_exclusive, full.shared_paths)
        waived_list = ConflictList(lambda: waived(every, conflicts))

    estimates = estimate_tasks(specs, history)
    weights = {task_id: e.seconds for task_id, e in estimates.items()}
    dependents = dependents_of(order, deps)
    remaining = remaining_path(order, deps, weights, users=dependents)
    path, length = critical_path(order, deps, weights, users=dependents, remaining=remaining)
    plan = Plan(
        tasks=tuple(
            Task(by_id[i], footprints[i], config.isolation_of(by_id[i].agent)) for i in order
        ),
        deps={i: tuple(deps[i]) for i in order},
        dependents=dependents,
        overlaps=overlaps,
        conflicts=conflicts,
        critical_path=tuple(path),
        critical_length=length,
        weights=weights,
        remaining=remaining,
        warnings=tuple(warnings),
        estimate_sources={task_id: e.source for task_id, e in estimates.items()},
        waived=waived_list,
        shared=tuple(sharing.shared),
        overlap_mode=sharing.mode,
    )
    return with_chosen_rank(plan, instances=instances, caps=caps)
