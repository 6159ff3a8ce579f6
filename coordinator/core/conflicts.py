"""Conflicts: pairs of tasks whose footprints overlap and that no dependency orders.

Only ``plan``'s output and ``validate``'s count read them; the scheduler works from the shared
claims directly. A 50,000-task plan can have five million such pairs, more than fit in memory as
objects, so they are never all held: ``Conflicts`` streams them in ``(a, b)`` order, each pair's
shared paths named only when read, and counts them without listing them (bitmasks of the claims'
owners against each task's ancestors, see ``SharedClaims.count_earlier``).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import overload

from coordinator.core.claims import SharedClaims
from coordinator.core.gcpause import gc_paused
from coordinator.core.graph import Reachability
from coordinator.core.models import Conflict

EXCLUSIVE_MARK = "(unknown footprint: exclusive)"


class _SharedPaths:
    """``shared(a, b)`` deferred; equal to another for the same pair, so that a conflict read
    twice from the stream compares equal to itself."""

    __slots__ = ("a", "b", "shared")

    def __init__(self, shared: Callable[[str, str], tuple[str, ...]], a: str, b: str) -> None:
        self.shared, self.a, self.b = shared, a, b

    def __call__(self) -> tuple[str, ...]:
        return self.shared(self.a, self.b)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _SharedPaths):
            return NotImplemented
        return (self.shared, self.a, self.b) == (other.shared, other.a, other.b)

    def __hash__(self) -> int:
        return hash((self.a, self.b))


class Conflicts(Sequence[Conflict]):
    """Every conflicting pair once, as ``(a, b)`` with ``a < b``, sorted by ``(a, b)``.

    ``shared(a, b)`` names the paths of a pair; it is called only when a conflict's ``paths``
    is read. An exclusive footprint (unknown, so it may touch anything) conflicts with every
    task it is not ordered against. The dependency reachability is built on first use and kept;
    the count is computed once. Iterating twice computes the pairs twice: callers that need them
    again keep them.
    """

    def __init__(
        self,
        order: Sequence[str],
        deps: Mapping[str, Sequence[str]],
        claims: SharedClaims,
        exclusive: Iterable[str],
        shared: Callable[[str, str], tuple[str, ...]],
    ) -> None:
        if tuple(claims.ids) != tuple(order):
            raise ValueError("the claims must list the tasks in the same (topological) order")
        self._order = tuple(order)
        self._deps = deps
        self._claims = claims
        self._exclusive = frozenset(exclusive)
        self._shared = shared
        self._reach: Reachability | None = None
        self._count: int | None = None

    def _reachability(self) -> Reachability:
        if self._reach is None:
            self._reach = Reachability(self._order, self._deps)
        return self._reach

    def __iter__(self) -> Iterator[Conflict]:
        reach = self._reachability()
        exclusive = self._exclusive
        by_id = sorted(self._order)
        later_exclusive = sorted(exclusive)
        for i, a in enumerate(by_id):
            if a in exclusive:
                candidates: Iterable[str] = by_id[i + 1 :]
            else:
                found = {b for b in self._claims.neighbours(a) if b > a}
                found.update(later_exclusive[bisect.bisect_right(later_exclusive, a) :])
                candidates = sorted(found)
            for b in reach.unordered(a, candidates):
                if a in exclusive or b in exclusive:
                    yield Conflict(a, b, (EXCLUSIVE_MARK,))
                else:
                    yield Conflict(a, b, _SharedPaths(self._shared, a, b))

    def __len__(self) -> int:
        if self._count is None:
            self._count = self._count_all()
        return self._count

    def _count_all(self) -> int:
        reach = self._reachability()
        claims = self._claims
        extra = 0
        for task_id in self._exclusive:
            extra |= 1 << reach.position(task_id)
        total = 0
        for at, task_id in enumerate(self._order):
            ancestors = reach.ancestor_bits(task_id)
            if task_id in self._exclusive:
                total += at - ancestors.bit_count()
            else:
                total += claims.count_earlier(task_id, exclude=ancestors, extra=extra)
        return total

    def __bool__(self) -> bool:
        return next(iter(self), None) is not None

    @overload
    def __getitem__(self, index: int) -> Conflict: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Conflict, ...]: ...
    def __getitem__(self, index: int | slice) -> Conflict | tuple[Conflict, ...]:
        """A prefix (``[:n]``, what ``plan`` shows) is read without going further."""
        if isinstance(index, slice):
            start, stop, step = index.start, index.stop, index.step
            if all(v is None or v >= 0 for v in (start, stop)) and (step or 1) > 0:
                return tuple(itertools.islice(self, start, stop, step))
            return tuple(self)[index]
        if index >= 0:
            for conflict in itertools.islice(self, index, None):
                return conflict
            raise IndexError(index)
        return tuple(self)[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to tuples, but not hashable like one

    def __repr__(self) -> str:
        return f"Conflicts({list(self)!r})"


class ConflictList(Sequence[Conflict]):
    """A read-only sequence of conflicts computed by ``build`` the first time it is read."""

    def __init__(self, build: Callable[[], list[Conflict]]) -> None:
        self._build: Callable[[], list[Conflict]] | None = build
        self._items: tuple[Conflict, ...] = ()

    def _all(self) -> tuple[Conflict, ...]:
        if self._build is not None:
            with gc_paused():
                self._items = tuple(self._build())
            self._build = None  # drop what the builder holds on to
        return self._items

    def __len__(self) -> int:
        return len(self._all())

    @overload
    def __getitem__(self, index: int) -> Conflict: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Conflict, ...]: ...
    def __getitem__(self, index: int | slice) -> Conflict | tuple[Conflict, ...]:
        return self._all()[index]

    def __iter__(self) -> Iterator[Conflict]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return self._all() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to tuples, but not hashable like one

    def __repr__(self) -> str:
        return f"ConflictList({list(self._all())!r})"
