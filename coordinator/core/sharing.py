"""Optimistic sharing of hot files: which predicted overlaps do not serialize tasks.

``[overlap] shared`` names paths (changelogs, registries) that many tasks touch but whose edits
git's three-way merge usually combines: an overlap only on such paths is *waived*, the tasks
run side by side and their results meet in the merge (a real conflict is then handled as any
merge conflict). ``mode = "optimistic"`` waives every overlap. Unknown (exclusive) footprints
are never waived: they may touch anything, including what no merge can combine.

Pure: ``plan`` shows what was waived and why, and suggests ``shared`` candidates from the
conflicts that remain (the paths that serialize the most pairs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from coordinator.core.globs import glob_match, normalise
from coordinator.core.models import Conflict, Footprint

OPTIMISTIC = "optimistic mode"
SUGGESTION_LIMIT = 5_000  # conflicts read for suggestions; beyond, reading paths costs seconds


def shared_glob(pattern: str, globs: Sequence[str]) -> str | None:
    """The first ``shared`` glob covering a footprint pattern (a path or a glob), if any."""
    path = normalise(pattern)
    return next((g for g in globs if glob_match(normalise(g), path) or g == pattern), None)


def overlap_footprints(
    footprints: Mapping[str, Footprint], shared: Sequence[str], mode: str
) -> dict[str, Footprint]:
    """The footprints the overlap test sees: ``shared`` paths left out (all, when optimistic)."""
    if mode == "optimistic":
        return {t: Footprint((), fp.exclusive) for t, fp in footprints.items()}
    return {
        t: Footprint(
            tuple(c for c in fp.claims if shared_glob(c.pattern, shared) is None), fp.exclusive
        )
        for t, fp in footprints.items()
    }


def waived(full: Iterable[Conflict], kept: Iterable[Conflict]) -> list[Conflict]:
    """The conflicts of the full footprints that the sharing rules waived."""
    remaining = {(c.a, c.b) for c in kept}
    return [c for c in full if (c.a, c.b) not in remaining]


def why_waived(paths: Sequence[str], shared: Sequence[str], mode: str) -> str:
    """``shared: CHANGES*`` (the globs that waived the pair's paths), or the optimistic mode."""
    if mode == "optimistic":
        return OPTIMISTIC
    globs = sorted({g for p in paths if (g := shared_glob(p, shared)) is not None})
    return "shared: " + ", ".join(globs) if globs else OPTIMISTIC


def suggest_shared(conflicts: Sequence[Conflict], top: int = 5) -> list[tuple[str, int]]:
    """The paths named by the most remaining conflicts, most first: ``shared`` candidates."""
    if len(conflicts) > SUGGESTION_LIMIT:
        conflicts = conflicts[:SUGGESTION_LIMIT]
    counts: Counter[str] = Counter()
    for conflict in conflicts:
        counts.update(p for p in conflict.paths if not p.startswith("("))
    return counts.most_common(top)
