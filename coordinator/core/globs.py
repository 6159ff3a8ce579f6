"""Footprint globs: matching a path, and an exact test of whether two patterns can share a path.

Semantics (gitignore-like, but always anchored at the repository root):

* ``*``, ``?`` and ``[...]`` (``[!...]``/``[^...]`` negate, ``a-z`` ranges) never cross ``/``;
* ``**`` as a whole segment matches zero or more segments (elsewhere it is a plain ``*``);
* as a glob, a literal pattern (no ``*?[``) matches exactly its own path. ``matches`` adds the
  footprint rule that a literal also covers everything under it: a changed path below it proves
  the literal is a directory.

The last section reads paths as people write them in prose (``clean_path``, ``file_extension``),
the syntax half of footprint inference.

The overlap planner must never miss a real overlap, so ``intersects`` is exact, not heuristic:
two patterns intersect iff some path matches both. It walks the two segment lists as a product
automaton (``**`` may absorb any segment of the other side), and compares two segments with a
character-level product automaton of the two fnmatch patterns. Both levels are memoised, since a
batch of specs repeats the same few patterns many times.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Final

MAX_CHAR: Final = 0x10FFFF
_SLASH: Final = ord("/")

Ranges = tuple[tuple[int, int], ...]
"""A set of characters as sorted, disjoint, inclusive code-point ranges; never contains ``/``."""
Token = Ranges | None
"""One segment token: a character set matching exactly one character, or ``None`` for ``*``."""
Segment = tuple[Token, ...]
DSTAR: Final = "**"
Part = Segment | str
State = tuple[int, int]
"""One path segment of a pattern: a parsed ``Segment`` or the ``DSTAR`` marker."""

_GLOB_CHARS: Final = frozenset("*?[")


def _without_slash(lo: int, hi: int) -> Ranges:
    """Split ``lo..hi`` around ``/``: no path segment can contain one."""
    parts = ((lo, min(hi, _SLASH - 1)), (max(lo, _SLASH + 1), hi))
    return tuple((a, b) for a, b in parts if a <= b)


ANY: Final[Ranges] = _without_slash(0, MAX_CHAR)


def _normalise(ranges: list[tuple[int, int]]) -> Ranges:
    """Sort and merge ranges, dropping ``/``, so that set operations can sweep them linearly."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return tuple(piece for lo, hi in merged for piece in _without_slash(lo, hi))


def _complement(ranges: Ranges) -> Ranges:
    """Every segment character *not* in ``ranges`` (for ``[!...]``)."""
    gaps: list[tuple[int, int]] = []
    start = 0
    for lo, hi in ranges:
        if lo > start:
            gaps.append((start, lo - 1))
        start = hi + 1
    if start <= MAX_CHAR:
        gaps.append((start, MAX_CHAR))
    return _normalise(gaps)


def _parse_class(text: str, start: int) -> tuple[Ranges, int] | None:
    """Parse ``[...]`` at ``text[start]``; None when it never closes (then ``[`` is literal)."""
    i = start + 1
    negate = i < len(text) and text[i] in "!^"
    if negate:
        i += 1
    first = i
    ranges: list[tuple[int, int]] = []
    while i < len(text) and (text[i] != "]" or i == first):
        if i + 2 < len(text) and text[i + 1] == "-" and text[i + 2] != "]":
            ranges.append((ord(text[i]), ord(text[i + 2])))  # a reversed range is empty
            i += 3
        else:
            ranges.append((ord(text[i]), ord(text[i])))
            i += 1
    if i >= len(text):
        return None
    chosen = _normalise([(lo, hi) for lo, hi in ranges if lo <= hi])
    return (_complement(chosen) if negate else chosen), i + 1


@lru_cache(maxsize=8192)
def parse_segment(text: str) -> Segment:
    """Tokens of one segment; runs of ``*`` collapse into one (they match the same strings)."""
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        parsed = _parse_class(text, i) if char == "[" else None
        if char == "*":
            if not tokens or tokens[-1] is not None:
                tokens.append(None)
            i += 1
        elif char == "?":
            tokens.append(ANY)
            i += 1
        elif parsed is not None:
            tokens.append(parsed[0])
            i = parsed[1]
        else:
            tokens.append(_without_slash(ord(char), ord(char)))
            i += 1
    return tuple(tokens)


def is_glob(pattern: str) -> bool:
    """Same rule as ``PathClaim.is_glob``: any of ``*?[`` makes a pattern a glob."""
    return not _GLOB_CHARS.isdisjoint(pattern)


def segments(pattern: str) -> list[str]:
    """The non-empty ``/``-separated segments: ``src/``, ``/src`` and ``src`` name one path."""
    return [s for s in pattern.split("/") if s]


def literal_prefix(pattern: str) -> str:
    """The leading glob-free directory of a pattern (the whole path for a literal).

    Every path a pattern can match is this prefix or lies under it, which is what lets the
    overlap index compare a pattern only with patterns along the same branch of the tree.
    """
    prefix: list[str] = []
    for segment in segments(pattern):
        if is_glob(segment):
            break
        prefix.append(segment)
    return "/".join(prefix)


def normalise(pattern: str) -> str:
    """One spelling per pattern: ``src/``, ``/src`` and ``src//`` all become ``src``."""
    return "/".join(segments(pattern))


@lru_cache(maxsize=8192)
def parse(pattern: str) -> tuple[Part, ...]:
    """The parsed segments of a pattern."""
    return tuple(DSTAR if s == DSTAR else parse_segment(s) for s in segments(pattern))


def _token_regex(token: Token) -> str:
    if token is None:
        return "[^/]*"
    if not token:
        return "(?!)"
    if len(token) == 1 and token[0][0] == token[0][1]:
        return re.escape(chr(token[0][0]))
    body = "".join(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in token)
    return f"[{body}]"


@lru_cache(maxsize=8192)
def _regex(pattern: str) -> re.Pattern[str]:
    """A regex over ``path + "/"``: each segment eats its trailing slash, ``**`` eats whole ones."""
    pieces = [
        "".join(map(_token_regex, part)) + "/" if isinstance(part, tuple) else "(?:[^/]+/)*"
        for part in parse(pattern)
    ]
    return re.compile("".join(pieces), re.DOTALL)


def glob_match(pattern: str, path: str) -> bool:
    """Does the glob match this very path? (A literal matches only itself.)"""
    return _regex(pattern).fullmatch(path.strip("/") + "/") is not None


def matches(pattern: str, path: str) -> bool:
    """Does a footprint pattern cover ``path``? A literal also covers everything under it."""
    if is_glob(pattern):
        return glob_match(pattern, path)
    literal, path = normalise(pattern), path.strip("/")
    return path == literal or path.startswith(literal + "/") or not literal


def _ranges_intersect(a: Ranges, b: Ranges) -> bool:
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i][1] < b[j][0]:
            i += 1
        elif b[j][1] < a[i][0]:
            j += 1
        else:
            return True
    return False


def _segment_steps(s: Segment, t: Segment, i: int, j: int) -> Iterator[State]:
    """Moves of the character-level product automaton from state ``(i, j)``."""
    a_star = i < len(s) and s[i] is None
    b_star = j < len(t) and t[j] is None
    if a_star:
        yield i + 1, j  # the star matches nothing more
        if j < len(t):
            yield i, j + 1  # the star eats the character t[j] matches (or t's star ends)
    if b_star:
        yield i, j + 1
        if i < len(s):
            yield i + 1, j
    if i < len(s) and j < len(t) and not a_star and not b_star:
        a, b = s[i], t[j]
        if a is not None and b is not None and _ranges_intersect(a, b):
            yield i + 1, j + 1


@lru_cache(maxsize=65536)
def segments_intersect(s: Segment, t: Segment) -> bool:
    """Is there a string both segment patterns match? (Exact; both must be satisfiable.)

    Every accepting run consumes at least one character unless both patterns are all stars,
    and then both match any non-empty string too, so a segment is never forced to be empty.
    """
    if not (_satisfiable(s) and _satisfiable(t)):
        return False
    return _reachable(lambda i, j: _segment_steps(s, t, i, j), (len(s), len(t)))


def _satisfiable(segment: Segment) -> bool:
    """A segment matches some non-empty string unless one of its character sets is empty."""
    return bool(segment) and all(token is None or token for token in segment)


def _reachable(steps: Callable[[int, int], Iterable[State]], goal: State) -> bool:
    """Depth-first search of a product automaton from ``(0, 0)`` to ``goal``."""
    seen: set[State] = set()
    stack = [(0, 0)]
    while stack:
        state = stack.pop()
        if state == goal:
            return True
        if state in seen:
            continue
        seen.add(state)
        stack.extend(steps(*state))
    return False


def _part_steps(p: tuple[Part, ...], q: tuple[Part, ...], i: int, j: int) -> Iterator[State]:
    """Moves of the segment-level product automaton from state ``(i, j)``."""
    p_dstar = i < len(p) and p[i] == DSTAR
    q_dstar = j < len(q) and q[j] == DSTAR
    if p_dstar:
        yield i + 1, j  # ** matches no more segments
        if j < len(q):
            yield i, j + 1  # ** absorbs the segment q[j] matches (or q's ** ends)
    if q_dstar:
        yield i, j + 1
        if i < len(p):
            yield i + 1, j
    if i < len(p) and j < len(q) and not p_dstar and not q_dstar:
        a, b = p[i], q[j]
        if isinstance(a, tuple) and isinstance(b, tuple) and segments_intersect(a, b):
            yield i + 1, j + 1


def parts_intersect(p: tuple[Part, ...], q: tuple[Part, ...]) -> bool:
    """Is there a path both parsed patterns match? Any unsatisfiable segment empties a pattern."""
    for part in (*p, *q):
        if isinstance(part, tuple) and not _satisfiable(part):
            return False
    return _reachable(lambda i, j: _part_steps(p, q, i, j), (len(p), len(q)))


@lru_cache(maxsize=65536)
def _intersects_ordered(a: str, b: str) -> bool:
    return parts_intersect(parse(a), parse(b))


def intersects(a: str, b: str) -> bool:
    """Is there a path both globs match (``glob_match``, literals matching only themselves)?"""
    return _intersects_ordered(a, b) if a <= b else _intersects_ordered(b, a)


# ---------------------------------------------------------------------------------------------
# Paths as people write them

_LOCATION: Final = re.compile(r"(?::\d+){1,2}$|#.*$")
_EXTENSION: Final = re.compile(r"[^/]+\.([A-Za-z0-9]{1,10})")
_ABBREVIATION: Final = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # e.g, i.e, a.k.a
_DRIVE: Final = re.compile(r"[A-Za-z]:")
_LETTER: Final = re.compile(r"[A-Za-z]")
_MENTION_CHARS: Final = re.compile(r"[\w.+@/-]+")


def clean_path(token: str, *, allow_glob: bool) -> str | None:
    """Normalise a path as written in prose, or None when it cannot be a repository path.

    Strips surrounding quotes, brackets and sentence punctuation, ``./``, a trailing ``/`` and a
    ``:12`` / ``#anchor`` location; refuses URLs, e-mail addresses, absolute and home paths,
    ``..``, ``.git`` and (for mentions) anything with characters file names rarely have.
    """
    path = _strip_wrapping(token.strip(), allow_glob)
    path = _strip_wrapping(_LOCATION.sub("", path), allow_glob)
    if "://" in path or path.startswith(("www.", "mailto:")) or ("@" in path and "/" not in path):
        return None
    while path.startswith("./"):
        path = path[2:]
    path = path.rstrip("/")
    if not path or path.startswith(("/", "~", "-")) or "\\" in path or _DRIVE.match(path):
        return None
    if any(part in {"..", "."} or part.lower() == ".git" for part in path.split("/")):
        return None
    if "//" in path or (not allow_glob and not _MENTION_CHARS.fullmatch(path)):
        return None
    return path


def _strip_wrapping(path: str, allow_glob: bool) -> str:
    """Peel quotes, brackets, ``**bold**`` and trailing punctuation until nothing changes."""
    lead = "\"'(<{" if allow_glob else "\"'(<{[*"
    trail = ".,;:!?\"')>}" if allow_glob else ".,;:!?\"')>}]*"
    while True:
        before = path
        if len(path) > 4 and path.startswith("**") and path.endswith("**"):
            path = path[2:-2]
        path = path.lstrip(lead).rstrip(trail)
        if path == before:
            return path


def path_like(token: str) -> bool:
    """A bare word is path-like when it has a ``/`` or ends in a file extension."""
    return "/" in token or file_extension(token) is not None


def file_extension(name: str) -> str | None:
    """The extension of a file name: 1-10 alphanumerics with a letter, after a non-empty stem.

    The letter rule keeps versions and numbers (``1.5``, ``v1.2``) out; dotted abbreviations
    (``e.g.``, ``i.e.``) are not file names either.
    """
    match = _EXTENSION.fullmatch(name.rpartition("/")[2])
    if not match or _ABBREVIATION.fullmatch(name) or not _LETTER.search(match.group(1)):
        return None
    return match.group(1)
