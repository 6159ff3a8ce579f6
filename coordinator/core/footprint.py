"""Footprint prediction (which paths a task will touch) and overlap detection between tasks.

A footprint is only a prediction, so the two halves lean in opposite directions on purpose:
inference from prose is cautious (a spurious path serialises tasks for nothing), while overlap
detection is exact and never misses a shared path (a missed one costs a merge conflict).
Everything here is pure: the repository arrives as ``RepoPaths``, a list of tracked files.
The overlap half lives in ``coordinator.core.overlaps``; its names are re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Final, Literal

from coordinator.core.globs import (
    clean_path,
    file_extension,
    matches,
    path_like,
)
from coordinator.core.models import (
    Footprint,
    FootprintMode,
    FootprintSource,
    PathClaim,
    TaskSpec,
    UnknownFootprint,
)
from coordinator.core.overlaps import OverlapIndex, RepoPaths, footprints_overlap

__all__ = ["OverlapIndex", "RepoPaths", "footprints_overlap", "matches", "predict", "violations"]


# ---------------------------------------------------------------------------------------------
# Prediction

Kind = Literal["bare", "code", "directive"]
"""How a candidate was written: bare prose, a one-token code span, or ```write PATH```."""

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+(?:\[[ xX]\]\s+)?(.+)$")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_LINK_TARGET = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+[^)]*)?\)")
_WORD_BREAK = re.compile(r"[\s|]+")
_DIRECTIVES: Final = frozenset({"write", "append", "replace"})
# A new root-level file named only in prose must carry one of these extensions: prose is full
# of dotted code names (``os.path``, ``json.dumps``) that are not files anyone will create.
_COMMON_EXTENSIONS: Final = """md markdown rst txt adoc org tex py pyi pyx ipynb js mjs cjs
jsx ts mts tsx vue svelte json jsonc json5 yaml yml toml ini cfg conf env properties xml html htm
css scss sass less go mod sum rs c h cc cpp cxx hh hpp hxx m mm swift kt kts java scala groovy
gradle rb php pl pm lua r jl dart ex exs erl hrl hs elm clj cljs cs fs vb sh bash zsh fish ps1
bat cmd sql graphql gql proto tf hcl nix lock csv tsv svg png jpg jpeg gif ico webp pdf mk cmake
in tpl j2 jinja zig nim sol asm s lisp el vim"""
_NEW_FILE_EXTENSIONS: Final = frozenset(_COMMON_EXTENSIONS.split())


def predict(
    spec: TaskSpec,
    repo: RepoPaths,
    *,
    mode: FootprintMode = "infer",
    unknown: UnknownFootprint = "exclusive",
) -> tuple[Footprint, list[str]]:
    """The footprint of one task, plus warnings for the user.

    Sources, strongest first: ``files:`` (declared), a ``## Files`` list, and (unless the
    spec's or the config's mode is ``"declared"``) paths mentioned in the body. A path found by
    several sources is kept once, under the strongest. An empty prediction is ``exclusive`` or
    empty-and-shared as ``unknown`` says; either way the user is warned, since both are guesses.
    """
    section, warnings = files_section(spec.body)
    sources: list[tuple[FootprintSource, Iterable[str]]] = [
        (FootprintSource.DECLARED, spec.files),
        (FootprintSource.FILES_SECTION, section),
    ]
    inferring = (spec.footprint_mode or mode) == "infer"
    if inferring:
        sources.append((FootprintSource.MENTIONED, mentioned_paths(spec.body, repo)))
    claims: dict[str, PathClaim] = {}
    for source, paths in sources:
        for path in paths:
            claims.setdefault(path, PathClaim(path, source))
    if claims:
        return Footprint(tuple(claims.values())), warnings
    empty = Footprint(exclusive=unknown == "exclusive")
    return empty, [*warnings, _unknown_warning(unknown, inferring)]


def _unknown_warning(unknown: UnknownFootprint, inferring: bool) -> str:
    looked = "no files:, no ## Files list" + (
        " and no repository path in the body" if inferring else ' (footprint = "declared")'
    )
    return unknown_warning(unknown, looked)


def unknown_warning(unknown: UnknownFootprint, looked: str) -> str:
    """What a task without a footprint means for the plan, after ``looked``: where the
    planner looked for one (each way of predicting says its own sources)."""
    if unknown == "exclusive":
        return f'unknown footprint ({looked}): it runs alone (unknown_footprint = "exclusive")'
    return (
        f"unknown footprint ({looked}): assumed to touch nothing, so it may run beside any task "
        '(unknown_footprint = "shared")'
    )


def files_section(body: str) -> tuple[list[str], list[str]]:
    """Paths listed under a ``Files`` heading (any level) and warnings for unusable entries.

    Entries need not exist (they may be files the task creates) and may be globs; only things
    that cannot be repository paths (URLs, absolute paths, ``..``, ``.git/``) are refused.
    """
    paths: list[str] = []
    warnings: list[str] = []
    inside = False
    for line, fenced in _lines(body):
        heading = None if fenced else _HEADING.match(line)
        if heading:
            inside = (heading.group(2) or "").strip().rstrip(":").strip().casefold() == "files"
            continue
        item = _LIST_ITEM.match(line) if inside and not fenced else None
        if item:
            raw = _item_path(item.group(1).strip())
            path = clean_path(raw, allow_glob=True)
            if path is None:
                warnings.append(f"## Files: ignored {raw!r}: not a path inside the repository")
            else:
                paths.append(path)
    return paths, warnings


def _item_path(content: str) -> str:
    """The path of one list item: a leading code span or link, else its first word."""
    span = _CODE_SPAN.match(content)
    if span:
        return span.group(2).strip()
    link = _LINK_TARGET.search(content) if content.startswith("[") else None
    if link:
        return link.group(1)
    return content.split(maxsplit=1)[0]


def _lines(body: str) -> Iterator[tuple[str, bool]]:
    """Each line with whether it is inside a fenced block (fence lines themselves are not)."""
    fence: str | None = None
    for line in body.splitlines():
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
            yield line, False
        elif fence is not None:
            closes = opening and opening.group(1).startswith(fence) and not opening.group(2).strip()
            if closes:
                fence = None
            yield line, fence is not None
        else:
            yield line, False


def mentioned_paths(body: str, repo: RepoPaths) -> list[str]:
    """Repository paths the body names, in order of first mention (see ``_accept``)."""
    found: dict[str, None] = {}
    for token, kind in _candidates(body):
        if kind == "bare" and "/" not in token and "." not in token:
            continue  # cheap early exit: most prose words cannot be path-like
        path = clean_path(token, allow_glob=False)
        if path is not None and path not in found and _accept(path, kind, repo):
            found[path] = None
    return list(found)


def _candidates(body: str) -> Iterator[tuple[str, Kind]]:
    """Path candidates outside code blocks, plus the paths in fence info strings."""
    for line, fenced in _lines(body):
        opening = None if fenced else _FENCE.match(line)
        if opening:
            yield from _info_candidates(opening.group(2).split())
        elif not fenced:
            yield from _prose_candidates(line)


candidates = _candidates  # for ``mentions``, which reads the same tokens more generously


def _info_candidates(words: list[str]) -> Iterator[tuple[str, Kind]]:
    """```write PATH``` (the demo agent's blocks) names a file outright; other words are prose."""
    if len(words) > 1 and words[0] in _DIRECTIVES:
        yield words[1], "directive"
        words = words[2:]
    for word in words:
        yield word, "bare"


def _prose_candidates(line: str) -> Iterator[tuple[str, Kind]]:
    """Code spans, link targets and plain words of one line, in the order they appear."""
    pieces = _CODE_SPAN.split(line)  # text, backticks, span, text, backticks, span, ..., text
    for n, piece in enumerate(pieces):
        if n % 3 == 2:
            words = piece.split()
            kind: Kind = "code" if len(words) == 1 else "bare"
            yield from ((word, kind) for word in words)
        elif n % 3 == 0:
            yield from _text_candidates(piece)


def _text_candidates(text: str) -> Iterator[tuple[str, Kind]]:
    """A link target names a path outright; other words must look like one."""
    for n, piece in enumerate(_LINK_TARGET.split(text)):  # text, target, text, ...
        if n % 2:
            yield piece, "code"
        else:
            yield from ((word, "bare") for word in _WORD_BREAK.split(piece) if word)


def _accept(path: str, kind: Kind, repo: RepoPaths) -> bool:
    """Is a cleaned mention a file this task plausibly touches?

    Tracked files always count. A directory never does: "the ``calc`` package" is context, not
    a claim on everything inside. A missing path counts as a file to create only when its
    directory exists, and (unless named by a ```write PATH``` block) only when it looks like a
    path on its own: a ``/``, or for a new top-level file a common file extension.
    """
    if path in repo.files:
        return kind != "bare" or path_like(path)
    parent = path.rpartition("/")[0]
    if path in repo.dirs or parent not in repo.dirs:
        return False
    if kind == "directive" or "/" in path:
        return True
    ext = file_extension(path)
    return ext is not None and ext.lower() in _NEW_FILE_EXTENSIONS


# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Violations


def violations(footprint: Footprint, changed: Iterable[str]) -> list[str]:
    """Changed paths the footprint does not cover, once each, in the order given."""
    if footprint.exclusive:
        return []
    patterns = footprint.patterns
    seen: set[str] = set()
    outside: list[str] = []
    for path in changed:
        if path not in seen and not any(matches(p, path) for p in patterns):
            outside.append(path)
        seen.add(path)
    return outside

