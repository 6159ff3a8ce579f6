"""Glob matching and the exact glob-intersection test, against tables and brute force."""

from __future__ import annotations

import itertools
from fnmatch import fnmatchcase

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.core.globs import (
    glob_match,
    intersects,
    is_glob,
    literal_prefix,
    matches,
    parse_segment,
    segments_intersect,
)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("src/a.py", "src/a.py", True),
        ("src/a.py", "src/a.pyc", False),
        ("src/auth", "src/auth/login.py", True),  # a literal covers its subtree
        ("src/auth", "src/auth/deep/x.py", True),
        ("src/auth", "src/authx/login.py", False),
        ("src/auth/", "src/auth/login.py", True),
        ("*.py", "a.py", True),
        ("*.py", "src/a.py", False),  # anchored at the root, unlike gitignore
        ("src/*", "src/a.py", True),
        ("src/*", "src/a/b.py", False),  # * never crosses /
        ("src/?.py", "src/a.py", True),
        ("src/?.py", "src/ab.py", False),
        ("src/**", "src/a/b/c.py", True),
        ("src/**", "src", True),  # ** matches zero segments
        ("src/**", "srcx/a.py", False),
        ("**/x.py", "x.py", True),
        ("**/x.py", "a/b/x.py", True),
        ("**/x.py", "a/b/yx.py", False),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "a/x/y/c", False),
        ("a**b/c", "axyb/c", True),  # ** inside a segment is a plain *
        ("a**b/c", "ax/yb/c", False),
        ("[ab].py", "a.py", True),
        ("[ab].py", "c.py", False),
        ("[!ab].py", "c.py", True),
        ("[^ab].py", "a.py", False),
        ("[a-c]x", "bx", True),
        ("[a-c]x", "dx", False),
        ("[]a]x", "]x", True),  # ] first in a class is literal
        ("[c-a]x", "bx", False),  # a reversed range is empty
        ("a[b", "a[b", True),  # an unclosed [ is a literal character
        ("[!a]", "/", False),
        ("*", "a/b", False),
    ],
)
def test_matches(pattern: str, path: str, expected: bool) -> None:
    assert matches(pattern, path) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("src/**", "src/a.py", True),
        ("src/a/*.py", "src/b/*.py", False),
        ("src/a/*.py", "src/*/x.py", True),
        ("src/*.py", "src/*.md", False),
        ("src/*.py", "src/a*", True),
        ("src/*/x.py", "src/auth", False),  # as globs, literals are single paths
        ("src/*/x.py", "src/auth/**", True),  # how the footprint layer spells a directory
        ("src/*", "src/auth", True),
        ("src/auth", "src/auth", True),
        ("src/auth", "src/auth/login.py", False),
        ("**/test_*.py", "src/**", True),
        ("**", "anything/at/all", True),
        ("a/**/b/*.py", "a/*/c/**", True),  # a/x/c/b/y.py
        ("a/*/b", "a/*/*/b", False),  # different depths, no **
        ("*[ab]", "*[!ab]", False),
        ("[ab]", "[!ab]", False),
        ("a*b", "*c", False),
        ("*a*", "*b*", True),
        ("x[c-a]", "x*", False),  # an empty class empties the pattern
        ("[!a]", "?", True),
        ("[!/]", "[!/]", True),  # / splits segments first, so "[!" and "]" are literals
    ],
)
def test_intersects(a: str, b: str, expected: bool) -> None:
    assert intersects(a, b) is expected
    assert intersects(b, a) is expected


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("src/a.py", "src/a.py"),
        ("src/auth/", "src/auth"),
        ("src/*/x.py", "src"),
        ("src/a/**", "src/a"),
        ("**/x", ""),
        ("*.py", ""),
        ("a/b[c]/d", "a"),
    ],
)
def test_literal_prefix(pattern: str, prefix: str) -> None:
    assert literal_prefix(pattern) == prefix


def test_a_literal_glob_matches_only_itself_but_covers_its_subtree() -> None:
    assert glob_match("src/auth", "src/auth")
    assert not glob_match("src/auth", "src/auth/x.py")
    assert matches("src/auth", "src/auth/x.py")


def test_is_glob_agrees_with_path_claim_rule() -> None:
    assert is_glob("src/*.py")
    assert is_glob("a?")
    assert is_glob("[ab]")
    assert not is_glob("src/a.py")


def test_consecutive_stars_collapse() -> None:
    assert parse_segment("a***b") == parse_segment("a*b")


# ---------------------------------------------------------------------------------------------
# Property tests against brute force over small finite universes

_TOKENS = ["a", "b", "*", "?", "[ab]", "[!a]", "[!ab]"]
_segment_patterns = st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=3).map("".join)
_pattern_parts = st.one_of(_segment_patterns, st.just("**"), st.sampled_from(["a", "b", "ab"]))
_patterns = st.lists(_pattern_parts, min_size=1, max_size=3).map("/".join)

# Strings up to 6 characters over {a, b, c}: every product-automaton step of two segment
# patterns of at most 3 tokens consumes a token of one side, so a shortest common string has at
# most 6 characters, and "c" stands for every character the classes leave out.
_STRINGS = ["".join(w) for n in range(1, 7) for w in itertools.product("abc", repeat=n)]
_SEGMENT_NAMES = ["a", "b", "c", "ab", "ba", "abc"]
_PATHS = ["/".join(w) for n in range(1, 4) for w in itertools.product(_SEGMENT_NAMES, repeat=n)]


@given(_segment_patterns, _segment_patterns)
@settings(max_examples=300, deadline=None)
def test_segment_intersection_is_exact(a: str, b: str) -> None:
    brute = any(glob_match(a, s) and glob_match(b, s) for s in _STRINGS)
    assert segments_intersect(parse_segment(a), parse_segment(b)) is brute


@given(_patterns, _patterns)
@settings(max_examples=300, deadline=None)
def test_intersects_never_misses_a_common_path(a: str, b: str) -> None:
    if any(glob_match(a, path) and glob_match(b, path) for path in _PATHS):
        assert intersects(a, b)


@given(_patterns, _patterns)
@settings(max_examples=200, deadline=None)
def test_intersects_is_symmetric(a: str, b: str) -> None:
    assert intersects(a, b) is intersects(b, a)


@given(_segment_patterns, st.sampled_from(_STRINGS))
@settings(max_examples=300, deadline=None)
def test_single_segment_matching_agrees_with_fnmatch(pattern: str, name: str) -> None:
    assert glob_match(pattern, name) is fnmatchcase(name, pattern)
