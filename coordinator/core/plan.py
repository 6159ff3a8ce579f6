"""The verified plan: what ``plan`` prints and what ``run`` executes.

A ``Plan`` is built once (by ``coordinator.core.planner.build_plan``) from validated specs and
the repository's file list, and is read-only afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from coordinator.core.estimates import EstimateSource
from coordinator.core.models import Conflict, Task


@dataclass(frozen=True)
class Plan:
    """Tasks in stable topological order plus everything the scheduler needs to know about them.

    ``overlaps[t]`` holds every task whose predicted footprint overlaps ``t``'s (dependency-related
    or not; exclusive footprints are *not* expanded here, the policy handles them by flag). The
    planner gives a ``SharedClaims`` (``coordinator.core.claims``): the same mapping, kept per
    shared claim rather than per pair, each entry computed when read.
    ``conflicts`` is the subset of overlapping pairs with no dependency path between them: the
    pairs that the scheduler must keep apart (streamed and counted on demand, as only reports
    need them: ``coordinator.core.conflicts``).
    ``weights[t]`` is the estimate used for the critical path and the simulation;
    ``remaining[t]`` is the longest weighted path from ``t`` (inclusive) to the end of the DAG.
    ``estimate_sources[t]`` says where ``weights[t]`` came from (a hand-built plan may leave it
    empty: ``estimate_source`` then guesses from the spec).
    """

    tasks: tuple[Task, ...]
    deps: Mapping[str, tuple[str, ...]]
    dependents: Mapping[str, tuple[str, ...]]
    overlaps: Mapping[str, frozenset[str]]
    conflicts: Sequence[Conflict]
    critical_path: tuple[str, ...]
    critical_length: float
    weights: Mapping[str, float]
    remaining: Mapping[str, float]
    warnings: tuple[str, ...] = ()
    rank: Mapping[str, int] = field(default_factory=dict)
    estimate_sources: Mapping[str, EstimateSource] = field(default_factory=dict)
    # overlapping pairs that ``[overlap]`` lets run side by side, and why (``core.sharing``)
    waived: Sequence[Conflict] = ()
    shared: tuple[str, ...] = ()  # ``[overlap] shared`` and ``mode``, to say why
    overlap_mode: str = "files"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {t.id: t for t in self.tasks})
        object.__setattr__(self, "_ids", tuple(t.id for t in self.tasks))

    def task(self, task_id: str) -> Task:
        by_id: dict[str, Task] = self._by_id  # type: ignore[attr-defined]
        return by_id[task_id]

    def estimate_source(self, task_id: str) -> EstimateSource:
        source = self.estimate_sources.get(task_id)
        if source is not None:
            return source
        given = self.task(task_id).spec.estimate is not None
        return EstimateSource.SPEC if given else EstimateSource.DEFAULT

    @property
    def ids(self) -> tuple[str, ...]:
        ids: tuple[str, ...] = self._ids  # type: ignore[attr-defined]
        return ids
