"""``[overlap]``: which overlaps are waived, why, and which paths to suggest for ``shared``."""

from __future__ import annotations

from coordinator.core.models import Conflict, Footprint, FootprintSource, PathClaim
from coordinator.core.sharing import (
    overlap_footprints,
    shared_glob,
    suggest_shared,
    waived,
    why_waived,
)


def fp(*paths: str, exclusive: bool = False) -> Footprint:
    return Footprint(tuple(PathClaim(p, FootprintSource.DECLARED) for p in paths), exclusive)


def test_shared_globs_cover_paths_from_the_repository_root() -> None:
    assert shared_glob("CHANGES.rst", ["CHANGES*"]) == "CHANGES*"
    assert shared_glob("docs/changelog/1.md", ["docs/changelog/**"]) == "docs/changelog/**"
    assert shared_glob("src/CHANGES.rst", ["CHANGES*"]) is None
    assert shared_glob("src/core.py", ["CHANGES*"]) is None


def test_shared_paths_leave_the_footprint_the_overlap_test_sees() -> None:
    seen = overlap_footprints({"a": fp("CHANGES.rst", "a.py")}, ["CHANGES*"], "files")
    assert seen["a"].patterns == ("a.py",)


def test_optimistic_waives_every_path_but_keeps_unknown_footprints_exclusive() -> None:
    seen = overlap_footprints({"a": fp("a.py"), "x": fp(exclusive=True)}, [], "optimistic")
    assert seen["a"].patterns == () and not seen["a"].exclusive
    assert seen["x"].exclusive


def test_waived_pairs_and_why() -> None:
    full = [Conflict("a", "b", ("CHANGES.rst",)), Conflict("c", "d", ("core.py",))]
    kept = [Conflict("c", "d", ("core.py",))]
    assert [(c.a, c.b) for c in waived(full, kept)] == [("a", "b")]
    assert why_waived(("CHANGES.rst",), ["CHANGES*"], "files") == "shared: CHANGES*"
    assert why_waived(("core.py",), [], "optimistic") == "optimistic mode"


def test_suggestions_name_the_paths_behind_the_most_conflicts() -> None:
    conflicts = [
        Conflict("a", "b", ("core.py",)),
        Conflict("a", "c", ("core.py", "CHANGES.rst")),
        Conflict("b", "c", ("core.py",)),
        Conflict("x", "y", ("(unknown footprint: exclusive)",)),
    ]
    assert suggest_shared(conflicts) == [("core.py", 3), ("CHANGES.rst", 1)]
