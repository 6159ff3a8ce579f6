"""Which refs a look at the shared state needs to compare: those that changed since the last.

Every look (before an agent starts, when one ends, before each merge) compares the refs with
the run's record (``coordinator.core.shared.plan_refs``). A run keeps every task's branch, so
the refs grow with the run; parsing and comparing all of them at each look made each task's
cost grow with the run's size (about 0.2 of a task's coordinator time at 1,000 tasks).

What a ref's comparison finds depends only on its value now and on what it should hold (its
value at the start, at rest, or the target's). So a ref whose value and wanted value are both
unchanged since the last look gives the same answer as then: nothing new (a user ref already
reported is not reported twice; a ref the coordinator put back changed value again). The only
exception is a ref the last look could not put back: it is compared again every time.

``RefDelta`` keeps the last look's listing (``git for-each-ref`` lines, ``<sha> <refname>``)
and wanted values, and says which refs to compare now, with their values. Set operations on
the listing's lines run in C; only changed lines are parsed. Not thread-safe: the caller holds
its lock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Delta:
    """The refs to compare (``relevant``) and their values now (absent: the ref is gone)."""

    relevant: frozenset[str]
    now: dict[str, str]


def parse_refs(listing: str) -> dict[str, str]:
    """``<sha> <refname>`` lines (``git for-each-ref``) -> ref -> the object it names."""
    return {ref: sha for sha, _, ref in (line.partition(" ") for line in listing.splitlines())}


class RefDelta:
    """The refs as the last look saw them; ``look`` gives what to compare this time."""

    def __init__(self, listing: str) -> None:
        self._lines = frozenset(listing.splitlines())
        self._now = parse_refs(listing)
        self._at_rest: dict[str, str] = {}
        self._again: set[str] = set()

    def refs(self) -> dict[str, str]:
        """The refs as the last look (or the listing it was made from) saw them; a copy."""
        return dict(self._now)

    def look(self, listing: str, at_rest: Mapping[str, str], always: Iterable[str]) -> Delta:
        """What to compare now: refs whose line changed, whose value at rest is new or changed
        (or was dropped), ``always`` (the target: its wanted value moves with every merge), and
        those the last look could not put back (``again``)."""
        lines = frozenset(listing.splitlines())
        gone, new = self._lines - lines, lines - self._lines
        changed: set[str] = set()
        for line in gone:
            ref = line.partition(" ")[2]
            changed.add(ref)
            self._now.pop(ref, None)
        for line in new:
            sha, _, ref = line.partition(" ")
            changed.add(ref)
            self._now[ref] = sha
        self._lines = lines
        moved = {ref for ref, value in at_rest.items() if self._at_rest.get(ref) != value}
        moved |= self._at_rest.keys() - at_rest.keys()
        self._at_rest = dict(at_rest)
        relevant = frozenset({*changed, *moved, *always, *self._again})
        return Delta(relevant, {r: self._now[r] for r in relevant if r in self._now})

    def again(self, refs: Collection[str]) -> None:
        """The refs this look could not put back: the next look compares them whatever else."""
        self._again = set(refs)
