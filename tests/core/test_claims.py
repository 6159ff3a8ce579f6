"""Overlaps kept per shared claim: the same relation as the pairwise index, never the pairs."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.core.claims import SharedClaims
from coordinator.core.footprint import OverlapIndex, RepoPaths
from coordinator.core.models import Footprint, FootprintSource, PathClaim

REPO = RepoPaths.from_files(["README.md", "src/a.py", "src/b.py", "src/sub/c.py", "docs/x.md"])
PATTERNS = ["README.md", "src/a.py", "src/b.py", "src", "src/**", "src/*.py", "**/*.md",
            "src/sub/c.py", "src/new", "src/new/d.py", "docs"]  # fmt: skip


def fp(*patterns: str) -> Footprint:
    return Footprint(tuple(PathClaim(p, FootprintSource.DECLARED) for p in patterns))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(PATTERNS), max_size=3), min_size=1, max_size=12))
def test_claims_give_exactly_the_pairwise_overlaps(footprints: list[list[str]]) -> None:
    ids = [f"t{i:02d}" for i in range(len(footprints))]
    index = OverlapIndex({t: fp(*f) for t, f in zip(ids, footprints, strict=True)}, REPO)
    claims = index.claims(ids)
    pairwise = index.overlaps()
    assert dict(claims) == pairwise
    assert claims.pair_count() == sum(len(v) for v in pairwise.values()) // 2
    for group in claims.groups():  # every group is a clique of the relation
        for a, b in itertools.combinations(group, 2):
            assert b in pairwise[a]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(2, 40).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.lists(st.integers(0, n - 1), max_size=40), max_size=6),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=30),
            st.sets(st.integers(0, n - 1)),
            st.sets(st.integers(0, n - 1)),
        )
    )
)
def test_counting_with_bitmasks_matches_walking_the_pairs(
    case: tuple[int, list[list[int]], list[tuple[int, int]], set[int], set[int]],
) -> None:
    """Keys large enough to become bitmasks (32 owners) and small ones, excluded and extra bits."""
    n, groups, pairs, excluded, extra = case
    ids = [f"t{i:02d}" for i in range(n)]
    owners = {f"k{k}": [ids[i] for i in group] for k, group in enumerate(groups)}
    claims = SharedClaims.of(ids, owners, pairs=[(ids[a], ids[b]) for a, b in pairs])
    exclude = sum(1 << i for i in excluded)
    more = sum(1 << i for i in extra)
    for at, task_id in enumerate(ids):
        overlapping = {claims.position(u) for u in claims.neighbours(task_id)}
        expected = {p for p in (overlapping | extra) if p < at and p not in excluded}
        assert claims.count_earlier(task_id, exclude=exclude, extra=more) == len(expected)


def test_a_plain_mapping_is_closed_under_symmetry_and_unknown_tasks_overlap_nothing() -> None:
    claims = SharedClaims.from_mapping(["a", "b", "c"], {"a": ["b"], "c": ["c", "zz"]})
    assert dict(claims) == {"a": {"b"}, "b": {"a"}, "c": set()}
    assert claims.groups() == []  # no named claim: nothing is known to be a clique
    assert claims.keys_of("barrier") == () and "barrier" not in claims
    assert claims.pair_count() == 1


def test_keys_partners_and_groups() -> None:
    claims = SharedClaims.of(
        ["a", "b", "c", "d"],
        {"src/**": ["c", "a"], "src/x.py": ["b"], "docs/y.md": ["d", "d"]},
        partners=[("src/**", "src/x.py"), ("src/**", "nowhere")],
    )
    assert claims.groups() == [("a", "c")]  # owners in plan order; a lone owner is no group
    assert claims.neighbours("b") == {"a", "c"}
    assert claims.neighbours("d") == set()
    [key] = claims.keys_of("b")
    assert set(claims.touching(key)) == {key, *claims.keys_of("a")}


def test_counting_through_large_keys() -> None:
    ids = [f"t{i:03d}" for i in range(100)]
    owners = {"big": ids[::2], "other": ids[1:60:3], "small": [ids[3], ids[98]]}
    claims = SharedClaims.of(ids, owners, partners=[("big", "small")])
    exclude = sum(1 << i for i in range(0, 100, 7))
    for at, task_id in enumerate(ids):
        expected = {
            p for p in (claims.position(u) for u in claims.neighbours(task_id)) if p < at and p % 7
        }
        assert claims.count_earlier(task_id, exclude=exclude) == len(expected)
    assert claims.pair_count() == sum(len(claims[t]) for t in ids) // 2
