"""Footprint prediction (which paths a task will touch) and overlap detection between tasks.

A footprint is only a prediction, so the two halves lean in opposite directions on purpose:
inference from prose is cautious (a spurious path serialises tasks for nothing), while overlap
detection is exact and never misses a shared path (a missed one costs a merge conflict).
Everything here is pure: the repository arrives as ``RepoPaths``, a list of tracked files.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from coordinator.core.globs import (
    clean_path,
    file_extension,
    glob_match,
    intersects,
    is_glob,
    literal_prefix,
    matches,
    normalise,
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
from coordinator.core.overlaps import SharedClaims

__all__ = ["OverlapIndex", "RepoPaths", "footprints_overlap", "matches", "predict", "violations"]

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
# Overlaps


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
        """The overlaps kept per claim (``coordinator.core.overlaps``), tasks in ``order``.

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
