"""Conflicts: pairs of tasks whose footprints overlap and that no dependency orders.

Only ``plan``'s output and ``validate``'s count read the list; the scheduler works from the
overlap sets directly. A 10,000-task plan has about 200,000 such pairs, so the list is built on
first use (``ConflictList``) and each pair's shared paths only when they are shown.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import overload

from coordinator.core.gcpause import gc_paused
from coordinator.core.graph import Reachability
from coordinator.core.models import Conflict, Footprint

EXCLUSIVE_MARK = "(unknown footprint: exclusive)"


def find_conflicts(
    order: Sequence[str],
    overlaps: Mapping[str, frozenset[str]],
    footprints: Mapping[str, Footprint],
    reach: Reachability,
    shared: Callable[[str, str], tuple[str, ...]],
) -> list[Conflict]:
    """Every conflicting pair once, as ``(a, b)`` with ``a < b``, sorted by ``(a, b)``.

    ``shared(a, b)`` names the paths of a pair; it is called only when a conflict's ``paths``
    is read. An exclusive footprint (unknown, so it may touch anything) conflicts with every
    task it is not ordered against.
    """
    found = [
        Conflict(a, b, functools.partial(shared, a, b))
        for a in sorted(order)
        for b in reach.unordered(a, sorted(b for b in overlaps[a] if b > a))
    ]
    exclusive = [t for t in order if footprints[t].exclusive]
    if not exclusive:
        return found
    seen = {(c.a, c.b) for c in found}
    for x in exclusive:
        others = [t for t in order if t != x and t not in overlaps[x]]
        for other in reach.unordered(x, others):
            pair = (min(x, other), max(x, other))
            if pair not in seen:
                seen.add(pair)
                found.append(Conflict(pair[0], pair[1], (EXCLUSIVE_MARK,)))
    found.sort(key=lambda c: (c.a, c.b))
    return found


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
