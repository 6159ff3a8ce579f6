"""Which tasks' footprints overlap, kept per shared claim instead of per pair of tasks.

Tasks meet on paths: when a thousand tasks of a 50,000-task plan each claim one of a few hundred
popular files, the overlapping pairs number in the millions, while the claims stay two per
task. So overlaps are stored as *keys* (one per distinct claim, in the overlap form of
``coordinator.core.footprint.overlap_form``): the tasks owning a key all overlap each other, and
two keys that intersect (a directory and a file below it, a glob and a path it matches) are
*partners*, whose owners overlap too. Two tasks overlap exactly when they own one key or a pair
of partner keys. The scheduler asks "does this task overlap a reserved one" key by key; the pair
list exists only as a stream (``coordinator.core.conflicts``).

``SharedClaims`` still reads as the mapping ``task -> tasks it overlaps`` that ``Plan.overlaps``
always was, computing each entry on demand, so small callers and hand-built plans need not care.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

# A key with at least this many owners gets a bitmask (over plan positions) for counting pairs;
# fewer are walked one by one. Masks of small keys would cost more memory than they save time.
_MASKED = 32


class SharedClaims(Mapping[str, frozenset[str]]):
    """Overlaps of the tasks ``ids`` (in plan order) as keys, their owners and partner keys.

    Read-only once built. A task missing from ``ids`` (a barrier added by a benchmark) owns no
    key and overlaps nothing.
    """

    def __init__(
        self,
        ids: Sequence[str],
        members: Sequence[Iterable[str]],
        partners: Iterable[tuple[int, int]] = (),
    ) -> None:
        self._ids = tuple(ids)
        self._position = {task_id: i for i, task_id in enumerate(self._ids)}
        position = self._position
        self._members: list[tuple[str, ...]] = [
            tuple(sorted({t for t in group if t in position}, key=position.__getitem__))
            for group in members
        ]
        keys: dict[str, list[int]] = {}
        for key, owners in enumerate(self._members):
            for task_id in owners:
                keys.setdefault(task_id, []).append(key)
        self._keys = {task_id: tuple(found) for task_id, found in keys.items()}
        linked: list[set[int]] = [{key} for key in range(len(self._members))]
        for p, q in partners:
            linked[p].add(q)
            linked[q].add(p)
        self._touching = [tuple(sorted(keys_)) for keys_ in linked]
        self._masks: dict[int, int] = {}

    @classmethod
    def of(
        cls,
        ids: Sequence[str],
        owners: Mapping[str, Iterable[str]],
        partners: Iterable[tuple[str, str]] = (),
        pairs: Iterable[tuple[str, str]] = (),
    ) -> SharedClaims:
        """From named keys (``owners``: key -> tasks), partner key names, and task ``pairs``
        that overlap for no named reason (each such task gets a private key)."""
        names = sorted(owners)
        members: list[Iterable[str]] = [owners[name] for name in names]
        number = {name: i for i, name in enumerate(names)}
        linked = [(number[p], number[q]) for p, q in partners if p in number and q in number]
        known = set(ids)
        private: dict[str, int] = {}
        for a, b in pairs:
            if a == b or a not in known or b not in known:
                continue
            for task_id in (a, b):
                if task_id not in private:
                    private[task_id] = len(members)
                    members.append((task_id,))
            linked.append((private[a], private[b]))
        return cls(ids, members, linked)

    @classmethod
    def from_mapping(
        cls, ids: Sequence[str], overlaps: Mapping[str, Iterable[str]]
    ) -> SharedClaims:
        """A plain ``task -> overlapping tasks`` mapping (closed under symmetry on the way)."""
        return cls.of(ids, {}, pairs=((t, u) for t, others in overlaps.items() for u in others))

    # ------------------------------------------------------------------ the structure
    def keys_of(self, task_id: str) -> tuple[int, ...]:
        """The keys a task owns (none for a task this structure does not know)."""
        return self._keys.get(task_id, ())

    def touching(self, key: int) -> tuple[int, ...]:
        """The key itself and its partners: every key whose owners overlap this key's."""
        return self._touching[key]

    def members(self, key: int) -> tuple[str, ...]:
        """The tasks owning a key, in plan order."""
        return self._members[key]

    def groups(self) -> list[tuple[str, ...]]:
        """Groups of two or more tasks owning one key: no two of a group may run at once."""
        seen: set[tuple[str, ...]] = set()
        found = []
        for owners in self._members:
            if len(owners) > 1 and owners not in seen:
                seen.add(owners)
                found.append(owners)
        return found

    def neighbours(self, task_id: str) -> set[str]:
        """Every other task whose footprint overlaps this one's."""
        found: set[str] = set()
        for key in self.keys_of(task_id):
            for other in self._touching[key]:
                found.update(self._members[other])
        found.discard(task_id)
        return found

    def position(self, task_id: str) -> int:
        return self._position[task_id]

    @property
    def ids(self) -> tuple[str, ...]:
        return self._ids

    # ------------------------------------------------------------------ counting
    def count_earlier(self, task_id: str, exclude: int = 0, extra: int = 0) -> int:
        """How many tasks placed before ``task_id`` overlap it, leaving out the plan positions
        set in the bitmask ``exclude`` and adding those set in ``extra`` (each counted once).

        ``coordinator.core.conflicts`` counts conflicts with this (``exclude``: the task's
        ancestors, ``extra``: tasks with exclusive footprints) without listing a single pair:
        large keys are bitmasks ORed together, small ones are walked.
        """
        at = self._position[task_id]
        below = (1 << at) - 1
        mask = extra
        loose: set[int] = set()
        position = self._position
        for key in self.keys_of(task_id):
            for other in self._touching[key]:
                owners = self._members[other]
                if len(owners) >= _MASKED:
                    mask |= self._mask(other)
                else:
                    loose.update(position[t] for t in owners)
        mask &= below & ~exclude
        count = mask.bit_count()
        for p in loose:
            if p < at and not (exclude >> p) & 1 and not (mask >> p) & 1:
                count += 1
        return count

    def _mask(self, key: int) -> int:
        mask = self._masks.get(key)
        if mask is None:
            mask = 0
            for task_id in self._members[key]:
                mask |= 1 << self._position[task_id]
            self._masks[key] = mask
        return mask

    def pair_count(self) -> int:
        """Unordered pairs of overlapping tasks, dependency-related or not."""
        return sum(self.count_earlier(task_id) for task_id in self._ids)

    # ------------------------------------------------------------------ the mapping
    def __getitem__(self, task_id: str) -> frozenset[str]:
        if task_id not in self._position:
            raise KeyError(task_id)
        return frozenset(self.neighbours(task_id))

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"SharedClaims({len(self._ids)} tasks, {len(self._members)} keys)"
