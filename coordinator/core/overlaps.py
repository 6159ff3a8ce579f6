"""Which tasks may touch a common path: the exact overlap test behind ``plan``'s conflicts.

Overlap detection never misses a shared path (a missed one costs a merge conflict), so it is
exact where prediction is cautious; ``OverlapIndex`` finds every overlapping pair of a large
plan without comparing every pair. Pure: the repository arrives as ``RepoPaths``.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from coordinator.core.claims import SharedClaims
from coordinator.core.globs import (
    file_extension,
    glob_match,
    intersects,
    is_glob,
    literal_prefix,
    matches,
    normalise,
)
from coordinator.core.models import Footprint

MAX_LISTED: Final = 5  # shared_paths lists tracked files for a glob pair only up to this many


@dataclass(frozen=True)
class RepoPaths:
    """The repository's tracked files at the base commit, and every directory holding them.

    ``dirs`` contains every ancestor directory of every file plus ``""`` (the root), so "does
    this new file's directory exist" is one set lookup.
    """

    files: frozenset[str]
    dirs: frozenset[str]
    _sorted: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sorted", tuple(sorted(self.files)))

    @classmethod
    def from_files(cls, files: Iterable[str]) -> RepoPaths:
        file_set = frozenset(files)
        dirs = {""}
        for path in file_set:
            parts = path.split("/")[:-1]
            dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return cls(file_set, frozenset(dirs))

    def under(self, prefix: str) -> tuple[str, ...]:
        """Tracked files equal to ``prefix`` or below it, by binary search on the sorted list."""
        if not prefix:
            return self._sorted
        start = bisect.bisect_left(self._sorted, prefix + "/")
        end = bisect.bisect_left(self._sorted, prefix + "0")  # "0" sorts right after "/"
        inside = self._sorted[start:end]
        return (prefix, *inside) if prefix in self.files else inside

    def expand(self, pattern: str) -> tuple[str, ...]:
        """Tracked files a pattern covers; only the pattern's literal prefix is scanned."""
        return tuple(p for p in self.under(literal_prefix(pattern)) if matches(pattern, p))



def footprints_overlap(a: Footprint, b: Footprint, repo: RepoPaths) -> bool:
    """Could the two tasks touch a common path? Exclusive footprints overlap everything."""
    if a.exclusive or b.exclusive:
        return True
    forms_b = [overlap_form(q, repo) for q in b.patterns]
    return any(forms_overlap(overlap_form(p, repo), q) for p in a.patterns for q in forms_b)


def overlap_form(pattern: str, repo: RepoPaths) -> str:
    """The pattern as the overlap test sees it, a literal that may be a directory as ``L/**``.

    A literal covers its subtree when it is a directory of the repository, or a new name
    without a file extension (``src/newpkg``, ``.github``). A tracked file or a new ``x.py`` is
    one path: if every literal might be a directory, ``**/*.md`` would overlap ``src/x.py``
    ("``src/x.py/y.md``") and serialise every task for nothing.
    """
    normal = normalise(pattern)
    if is_glob(normal) or normal in repo.files:
        return normal
    if normal in repo.dirs or file_extension(normal) is None:
        return f"{normal}/**" if normal else "**"
    return normal


def forms_overlap(p: str, q: str) -> bool:
    """Two literals overlap when equal or when one is an ancestor directory of the other (a task
    creating the file ``a/b`` collides with one creating ``a/b/c``); globs are tested exactly.
    """
    if is_glob(p) or is_glob(q):
        return intersects(p, q)
    return p == q or p.startswith(q + "/") or q.startswith(p + "/")



def _ancestors(key: str) -> Iterator[str]:
    """``""``, ``a``, ``a/b`` ... up to and including ``key`` itself."""
    yield ""
    for i, char in enumerate(key):
        if char == "/":
            yield key[:i]
    if key:
        yield key


@dataclass(frozen=True, slots=True)
class _TaskForms:
    """A footprint prepared for naming shared paths with set operations.

    ``literals`` are the patterns whose overlap form is a single path (for those the form is
    the normalised pattern); ``parents`` every directory above them, so that a literal inside
    another task's literal shows up as an intersection; ``globs`` the rest, as (normalised
    pattern, overlap form); ``all`` both kinds.
    """

    literals: frozenset[str]
    parents: frozenset[str]
    globs: tuple[tuple[str, str], ...]
    all: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, footprint: Footprint, repo: RepoPaths) -> _TaskForms:
        pairs = tuple((normalise(p), overlap_form(p, repo)) for p in footprint.patterns)
        literals = frozenset(form for _, form in pairs if not is_glob(form))
        parents = frozenset(
            path[:i] for path in literals for i, char in enumerate(path) if char == "/"
        )
        globs = tuple((p, form) for p, form in pairs if is_glob(form))
        return cls(literals, parents, globs, pairs)


class OverlapIndex:
    """All overlapping task pairs of a batch, without comparing every pair of tasks.

    Every pattern can only match paths at or below its literal prefix, so two patterns can
    intersect only if one prefix is an ancestor of (or equal to) the other. Literals are kept in
    a set and globs are bucketed by prefix; each pattern looks up only the keys on its own
    ancestor chain, so the deeper pattern of every candidate pair finds the shallower one. The
    exact ``intersects`` runs once per distinct candidate pair of patterns (it is memoised), and
    task pairs follow from the patterns' owners. Exclusive footprints are not expanded here: the
    planner deals with them by flag.
    """

    def __init__(self, footprints: Mapping[str, Footprint], repo: RepoPaths) -> None:
        self._footprints = dict(footprints)
        self._repo = repo
        self._owners: dict[str, set[str]] = defaultdict(set)
        for task_id, footprint in self._footprints.items():
            for pattern in footprint.patterns:
                self._owners[overlap_form(pattern, repo)].add(task_id)
        self._literals = {form for form in self._owners if not is_glob(form)}
        self._globs: dict[str, set[str]] = defaultdict(set)
        for form in self._owners:
            if is_glob(form):
                self._globs[literal_prefix(form)].add(form)
        self._overlaps: dict[str, frozenset[str]] | None = None
        self._task_forms: dict[str, _TaskForms] = {}
        self._described: dict[tuple[str, str], tuple[str, ...]] = {}

    def overlaps(self) -> dict[str, frozenset[str]]:
        """Task id -> the other tasks whose footprints overlap it (symmetric, never itself)."""
        if self._overlaps is None:
            found: dict[str, set[str]] = {task_id: set() for task_id in self._footprints}
            for owners in self._owners.values():
                for task_id in owners:
                    found[task_id].update(owners)
            for p, q in self._pattern_pairs():
                for task_id in self._owners[p]:
                    found[task_id].update(self._owners[q])
                for task_id in self._owners[q]:
                    found[task_id].update(self._owners[p])
            for task_id, others in found.items():
                others.discard(task_id)
            self._overlaps = {task_id: frozenset(others) for task_id, others in found.items()}
        return dict(self._overlaps)

    def claims(self, order: Sequence[str]) -> SharedClaims:
        """The overlaps kept per claim (``coordinator.core.claims``), tasks in ``order``.

        What ``overlaps`` gives without expanding a single pair of tasks: each overlap form is
        a key owned by the tasks claiming it, each intersecting pair of forms a partner link.
        """
        return SharedClaims.of(order, self._owners, self._pattern_pairs())

    def _pattern_pairs(self) -> set[tuple[str, str]]:
        """Distinct overlapping pairs of different patterns (each pair once, in either order)."""
        pairs: set[tuple[str, str]] = set()
        for literal in self._literals:
            for ancestor in _ancestors(literal):
                if ancestor != literal and ancestor in self._literals:
                    pairs.add((literal, ancestor))
                globs = self._globs.get(ancestor) or ()
                pairs.update((literal, g) for g in globs if intersects(literal, g))
        for key, globs in self._globs.items():
            for ancestor in _ancestors(key):
                others = self._globs.get(ancestor) or ()
                pairs.update(
                    (g, h)
                    for g in globs
                    for h in others
                    if (ancestor != key or g < h) and intersects(g, h)
                )
        return pairs

    def shared_paths(self, a: str, b: str) -> tuple[str, ...]:
        """What tasks ``a`` and ``b`` both claim, for people: paths where known, else patterns.

        A literal inside the other side's glob is shown as the path; for two globs (or a glob
        reaching into a directory) the tracked files both cover are listed when there are only a
        few, else the pair is shown as ``x & y``. Called for each of up to hundreds of thousands
        of conflicts, so each task's forms and each pair of patterns are worked out once.
        """
        mine, theirs = self._forms_of(a), self._forms_of(b)
        shared = set(mine.literals & theirs.literals)
        for outer, inner in ((mine, theirs), (theirs, mine)):
            for directory in outer.literals & inner.parents:
                shared.update(x for x in inner.literals if x.startswith(directory + "/"))
        if mine.globs or theirs.globs:
            for p, form_p in mine.globs:
                for q, form_q in theirs.all:
                    shared.update(self._described_pair(p, form_p, q, form_q))
            for p, form_p in mine.all:
                if form_p in mine.literals:
                    for q, form_q in theirs.globs:
                        shared.update(self._described_pair(p, form_p, q, form_q))
        return tuple(sorted(shared))

    def _described_pair(self, p: str, form_p: str, q: str, form_q: str) -> tuple[str, ...]:
        described = self._described.get((p, q))
        if described is None:
            described = self._describe(p, q) if forms_overlap(form_p, form_q) else ()
            self._described[p, q] = described
        return described

    def _forms_of(self, task_id: str) -> _TaskForms:
        forms = self._task_forms.get(task_id)
        if forms is None:
            forms = _TaskForms.of(self._footprints[task_id], self._repo)
            self._task_forms[task_id] = forms
        return forms

    def _describe(self, p: str, q: str) -> tuple[str, ...]:
        if p == q:
            return (p,)
        glob_p, glob_q = is_glob(p), is_glob(q)
        if not glob_p and not glob_q:
            return (max(p, q, key=_depth),)
        if glob_p != glob_q:
            literal, glob = (q, p) if glob_p else (p, q)
            if glob_match(glob, literal):
                return (literal,)
        tracked = [path for path in self._repo.expand(p) if matches(q, path)]
        if 0 < len(tracked) <= MAX_LISTED:
            return tuple(tracked)
        return (" & ".join(sorted((p, q))),)


def _depth(path: str) -> int:
    return path.count("/")
