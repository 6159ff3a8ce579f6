"""Tiny hand-built Plans for the policy, simulation and ordering tests (no planner, no disk)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from coordinator.core.claims import SharedClaims
from coordinator.core.graph import critical_path, dependents_of, remaining_path
from coordinator.core.models import Footprint, FootprintSource, PathClaim, Task, TaskSpec
from coordinator.core.plan import Plan


def make_plan(
    deps: Mapping[str, Sequence[str]],
    *,
    agents: Mapping[str, str] | None = None,
    weights: Mapping[str, float] | None = None,
    priority: Mapping[str, int] | None = None,
    overlaps: Iterable[tuple[str, str]] = (),
    exclusive: Iterable[str] = (),
    files: Mapping[str, Sequence[str]] | None = None,
    rank: Mapping[str, int] | None = None,
) -> Plan:
    """A Plan from ids (keys, already in topological order) and explicit overlap pairs.

    ``files`` become declared claims, and tasks claiming one path overlap, as the planner does
    (one shared-claims key per path); ``overlaps`` pairs overlap for no named reason.
    """
    ids = list(deps)
    agents, priority, files = agents or {}, priority or {}, files or {}
    weight = {t: (weights or {}).get(t, 1.0) for t in ids}
    owners: dict[str, list[str]] = {}
    for t in ids:
        for claim in files.get(t, ()):
            owners.setdefault(claim, []).append(t)
    exclusive = set(exclusive)
    tasks = tuple(
        Task(
            TaskSpec(
                id=t,
                agent=agents.get(t, "coder"),
                body="",
                source=f"specs/{t}.md",
                order=i,
                depends_on=tuple(deps[t]),
                priority=priority.get(t, 0),
            ),
            Footprint(
                tuple(PathClaim(f, FootprintSource.DECLARED) for f in files.get(t, ())),
                exclusive=t in exclusive,
            ),
        )
        for i, t in enumerate(ids)
    )
    path, length = critical_path(ids, deps, weight)
    return Plan(
        tasks=tasks,
        deps={t: tuple(deps[t]) for t in ids},
        dependents=dependents_of(ids, deps),
        overlaps=SharedClaims.of(ids, owners, pairs=overlaps),
        conflicts=(),
        critical_path=tuple(path),
        critical_length=length,
        weights=weight,
        remaining=remaining_path(ids, deps, weight),
        rank=dict(rank or {}),
    )
