"""Value types shared by the core and the adapters around it.

They are frozen so that a plan, once computed, cannot drift while the engine runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, NamedTuple

FootprintMode = Literal["infer", "mentioned", "declared"]
UnknownFootprint = Literal["exclusive", "shared"]
# How far a task's agent is kept from the repository (README, Security model).
Isolation = Literal["worktree", "clone", "sandbox"]


class FootprintSource(StrEnum):
    """Where a predicted path came from; ``plan`` shows it so users can see why tasks conflict."""

    DECLARED = "declared"  # the spec's ``files:`` list
    FILES_SECTION = "files-section"  # a list under a ``## Files`` heading of the body
    MENTIONED = "mentioned"  # a path named in the body text that exists (or whose dir exists)
    SYMBOLS = "symbols"  # a file defining a name the body uses
    RETRIEVAL = "retrieval"  # a file the body's words rank high for
    HISTORY = "history"  # a file that historically changes with the predicted ones


@dataclass(frozen=True, slots=True)
class PathClaim:
    """One path or glob a task is predicted to touch (repo-relative, POSIX separators)."""

    pattern: str
    source: FootprintSource
    confidence: float = 1.0  # how sure the prediction is (declared paths: certain)

    @property
    def is_glob(self) -> bool:
        return any(ch in self.pattern for ch in "*?[")


@dataclass(frozen=True, slots=True)
class Footprint:
    """The predicted set of paths a task touches.

    ``exclusive`` means "treat as touching everything": an empty prediction under
    ``unknown_footprint = "exclusive"``. Such a task never runs beside another one.
    """

    claims: tuple[PathClaim, ...] = ()
    exclusive: bool = False

    @property
    def patterns(self) -> tuple[str, ...]:
        return tuple(c.pattern for c in self.claims)


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task as the user wrote it, validated but not yet planned.

    ``source`` is the spec file's repo-relative path (for error messages and ``{spec}``);
    ``order`` is the global spec order (file path order, then position in a workflow file), the
    final tie-breaker everywhere so that plans are deterministic. ``digest`` hashes everything
    that defines the task, so the daemon can tell a changed spec from an unchanged one.
    """

    id: str
    agent: str
    body: str
    source: str
    order: int
    title: str = ""
    depends_on: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    priority: int = 0
    timeout: float | None = None
    estimate: float | None = None
    footprint_mode: FootprintMode | None = None
    digest: str = ""


@dataclass(frozen=True, slots=True)
class Task:
    """A spec plus its predicted footprint: what the planner and scheduler work with."""

    spec: TaskSpec
    footprint: Footprint
    isolation: Isolation = "worktree"

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def agent(self) -> str:
        return self.spec.agent


class TaskState(StrEnum):
    """The lifecycle of a task in a run; the values are part of ``status --json``."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"  # agent finished: its processes are stopped, its work collected
    MERGING = "merging"  # handed to the merge lane: waiting for its turn, or merging now
    VERIFYING = "verifying"  # the merge gate runs on its merge result
    RESOLVING = "resolving"  # a resolver agent finishes its conflicted merge
    MERGED = "merged"
    FAILED = "failed"
    CONFLICT = "conflict"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {TaskState.MERGED, TaskState.FAILED, TaskState.CONFLICT, TaskState.SKIPPED, TaskState.CANCELLED}
)


class Conflict(NamedTuple):
    """Two tasks with no dependency path between them whose footprints overlap.

    ``shared`` is the shared paths, or a function computing them: naming them for every pair
    costs far more than finding the pairs, and only ``plan``'s output needs them. A named tuple,
    not a frozen dataclass, because a 10,000-task plan makes hundreds of thousands of these.
    """

    a: str
    b: str
    shared: tuple[str, ...] | Callable[[], tuple[str, ...]] = ()

    @property
    def paths(self) -> tuple[str, ...]:
        return self.shared() if callable(self.shared) else self.shared
