"""Build a ``Plan`` from validated specs: footprints, the DAG, conflicts and the critical path.

This is the one place where the pure pieces meet; ``plan`` and ``run`` both call it, so what a
user previews is exactly what runs.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Mapping, Sequence

from coordinator.core.config import Config
from coordinator.core.conflicts import ConflictList, find_conflicts
from coordinator.core.footprint import OverlapIndex, RepoPaths
from coordinator.core.gcpause import gc_paused
from coordinator.core.graph import (
    critical_path,
    dependents_of,
    reachability,
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

DEFAULT_ESTIMATE = 60.0


def default_weights(specs: Sequence[TaskSpec]) -> dict[str, float]:
    """Estimates per task; a task without one gets the median of the others (or 60 s).

    With no estimates at all every task weighs the same, so the critical path is the longest
    chain by task count, as the spec format promises.
    """
    known = [s.estimate for s in specs if s.estimate is not None]
    fallback = statistics.median(known) if known else DEFAULT_ESTIMATE
    return {s.id: s.estimate if s.estimate is not None else fallback for s in specs}


def build_plan(
    specs: Sequence[TaskSpec],
    config: Config,
    repo: RepoPaths,
    *,
    instances: int | None = None,
    caps: Mapping[str, int] | None = None,
    predictor: Predictor | None = None,
) -> Plan:
    """Validate cross-spec rules, then compute everything ``plan`` shows and ``run`` needs.

    Raises ``InputError`` listing every problem (unknown agents and dependencies, duplicates,
    cycles) so one ``validate`` pass shows the user all of them. With ``instances`` (and the
    per-type ``caps``) the plan also gets a ``rank``: the start order that simulated best on the
    estimates for that many slots (``coordinator.core.ordering``). ``predictor`` (the
    repository's index) enables the inferred footprint sources of ``footprint = "infer"``.
    """
    with gc_paused():
        return _build_plan(specs, config, repo, instances=instances, caps=caps, predictor=predictor)


def _build_plan(
    specs: Sequence[TaskSpec],
    config: Config,
    repo: RepoPaths,
    *,
    instances: int | None,
    caps: Mapping[str, int] | None,
    predictor: Predictor | None = None,
) -> Plan:
    problems = validate_specs(specs, config.agents.keys())
    if problems:
        raise InputError(problems)
    ids = [s.id for s in specs]
    deps = {s.id: s.depends_on for s in specs}
    order = topo_order(ids, deps, sources={s.id: s.source for s in specs})
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
    overlaps = index.overlaps()
    reach = reachability(order, deps)
    conflicts = ConflictList(
        functools.partial(find_conflicts, order, overlaps, seen, reach, index.shared_paths)
    )
    waived_list: ConflictList | tuple[()] = ()
    if waiving:
        full = OverlapIndex(footprints, repo)
        every = functools.partial(
            find_conflicts, order, full.overlaps(), footprints, reach, full.shared_paths
        )
        waived_list = ConflictList(lambda: waived(every(), conflicts))

    weights = default_weights(specs)
    path, length = critical_path(order, deps, weights)
    plan = Plan(
        tasks=tuple(
            Task(by_id[i], footprints[i], config.isolation_of(by_id[i].agent)) for i in order
        ),
        deps={i: tuple(deps[i]) for i in order},
        dependents=dependents_of(order, deps),
        overlaps=overlaps,
        conflicts=conflicts,
        critical_path=tuple(path),
        critical_length=length,
        weights=weights,
        remaining=remaining_path(order, deps, weights),
        warnings=tuple(warnings),
        waived=waived_list,
        shared=tuple(sharing.shared),
        overlap_mode=sharing.mode,
    )
    return with_chosen_rank(plan, instances=instances, caps=caps)
