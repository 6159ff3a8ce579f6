"""The ``[H]`` source: files that historically change together with the predicted ones.

Association rules ``a -> b`` mined from change sets (Zimmermann et al., "Mining Version
Histories to Guide Software Changes"): support is how many change sets hold both, confidence
is support / how many hold ``a``. Change sets come from the repository's first-parent history
(one per commit, a merge counting as its diff against the first parent) and from this
coordinator's own past runs (each task's changed files). Huge change sets (reformatting,
vendoring, mass renames) say nothing about which files belong together and are skipped.
Pure: the change sets are given as lists of paths.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

MAX_CHANGE: Final = 20  # larger change sets are skipped: they tie everything to everything


@dataclass(frozen=True)
class Rules:
    """Thresholds of the rules used: at least ``support`` shared change sets and ``confidence``."""

    support: int = 2
    confidence: float = 0.3


class CoChange:
    """Pair counts over change sets, restricted to the files that exist at the base."""

    def __init__(
        self,
        changes: Iterable[Sequence[str]],
        existing: Iterable[str] | None = None,
        renames: Iterable[Sequence[tuple[str, str]]] = (),
    ) -> None:
        """``changes`` newest first; ``renames`` the (old, new) pairs of each change, in the
        same order: a file's history goes on under its current name across renames."""
        keep = None if existing is None else frozenset(existing)
        changes = _following_renames(changes, renames)
        self.count: Counter[str] = Counter()
        self.pairs: dict[str, Counter[str]] = defaultdict(Counter)
        self.changes = 0
        self.sets: list[list[str]] = []  # the kept change sets, newest first, renames followed
        self._frequent: dict[tuple[int, float], dict[str, float]] = {}
        for change in changes:
            files = sorted({f for f in change if keep is None or f in keep})
            if not files or len(files) > MAX_CHANGE:
                continue
            self.changes += 1
            self.sets.append(files)
            self.count.update(files)
            for a in files:
                together = self.pairs[a]
                together.update(b for b in files if b != a)

    def frequent(self, recent: int, share: float) -> dict[str, float]:
        """Files changed by at least ``share`` of the newest ``recent`` change sets (a changelog
        most changes add to), with that share; ``changes`` must be given newest first."""
        known = self._frequent.get((recent, share))
        if known is not None:
            return known
        counted: Counter[str] = Counter()
        seen = 0
        for files in self.sets[:recent]:
            counted.update(files)
            seen += 1
        found = {f: n / seen for f, n in counted.items() if seen and n / seen >= share}
        self._frequent[recent, share] = found
        return found

    def implied(
        self, seeds: Mapping[str, float], rules: Rules = Rules(), exclude: Iterable[str] = ()
    ) -> dict[str, float]:
        """Files implied by the seeds: each rule ``a -> b`` passing the thresholds is evidence
        weight(a) * confidence(a -> b) that ``b`` changes; evidence is combined as a noisy-or.

        Seeds and ``exclude`` are not returned. A seed that is a glob or directory pattern has
        no history of its own and implies nothing.
        """
        skip = set(seeds) | set(exclude)
        out: dict[str, float] = {}
        for a, weight in seeds.items():
            total = self.count.get(a, 0)
            if not total:
                continue
            for b, together in self.pairs[a].items():
                confidence = together / total
                if together < rules.support or confidence < rules.confidence or b in skip:
                    continue
                # noisy-or: each seed is independent evidence that b changes too
                out[b] = 1.0 - (1.0 - out.get(b, 0.0)) * (1.0 - weight * confidence)
        return out


def _following_renames(
    changes: Iterable[Sequence[str]], renames: Iterable[Sequence[tuple[str, str]]]
) -> Iterator[list[str]]:
    """Each change's files under the names they have at the newest change."""
    current: dict[str, str] = {}  # an old name -> the name it has today
    pending = iter(renames)
    for files in changes:
        yield [current.get(f, f) for f in files]
        for old, new in next(pending, ()):
            current[old] = current.get(new, new)


def habits(
    changes: Iterable[tuple[Sequence[str], Sequence[str]]], support: int = 3, share: float = 0.5
) -> dict[str, float]:
    """Files an agent type keeps changing beyond what was predicted for it.

    ``changes`` holds (predicted patterns, changed files) of that type's past tasks; a file
    changed unpredicted in at least ``share`` of them (and ``support`` times) is a habit, with
    that share as its confidence.
    """
    missed: Counter[str] = Counter()
    tasks = 0
    for predicted, changed in changes:
        tasks += 1
        missed.update(set(changed) - set(predicted))
    return {path: n / tasks for path, n in missed.items() if n >= support and n / tasks >= share}


_TEST_DIRS: Final = frozenset({"test", "tests", "testing", "spec", "specs", "__tests__"})


def is_test(path: str) -> bool:
    """A test file by the usual conventions of most languages."""
    parts = path.lower().split("/")
    name = parts[-1]
    return (
        any(p in _TEST_DIRS for p in parts[:-1])
        or name.startswith("test_")
        or any(mark in name for mark in ("_test.", ".test.", ".spec.", "_spec."))
    )


def core_stem(path: str) -> str:
    """``tests/test_termui.py``, ``termui_test.go``, ``termui.spec.ts`` -> ``termui``."""
    stem = path.rpartition("/")[2].split(".", 1)[0].lower().replace("-", "_").strip("_")
    for prefix in ("test_", "test"):
        if stem.startswith(prefix) and len(stem) > len(prefix):
            return stem.removeprefix(prefix).strip("_")
    for suffix in ("_test", "_spec", "test"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem.removesuffix(suffix).strip("_")
    return stem


def is_doc(path: str) -> bool:
    """A documentation page: under a ``docs``-like directory, in a prose format."""
    parts = path.lower().split("/")
    return any(p in _DOC_DIRS for p in parts[:-1]) and parts[-1].endswith(_DOC_SUFFIXES)


_DOC_DIRS: Final = frozenset({"doc", "docs", "documentation"})
_DOC_SUFFIXES: Final = (".md", ".rst", ".txt", ".adoc", ".mdx")


class Namesakes:
    """Companions named after a source file (tests: ``termui.py`` -> ``tests/test_termui.py``;
    docs: ``testing.py`` -> ``docs/testing.md``), and how often history changed such a
    companion together with its source: the convention's confidence is learned per repository,
    so a project that keeps its tests or docs elsewhere is not misled."""

    def __init__(
        self, existing: Iterable[str], changes: Iterable[Sequence[str]], companion: str = "test"
    ) -> None:
        kind = is_test if companion == "test" else is_doc
        self.named: dict[str, list[str]] = defaultdict(list)
        for path in existing:
            if kind(path):
                self.named[core_stem(path)].append(path)
        trials = hits = 0
        for change in changes:
            files = set(change)
            if len(files) > MAX_CHANGE:
                continue
            for path in files:
                named = self.of(path)
                if named:
                    trials += 1
                    hits += any(t in files for t in named)
        self.confidence = hits / trials if trials >= 5 else 0.0

    def of(self, path: str) -> tuple[str, ...]:
        """The companions named after ``path`` (none for a test or a doc itself)."""
        if is_test(path) or is_doc(path):
            return ()
        return tuple(self.named.get(core_stem(path), ()))


_PROSE: Final = (".md", ".rst", ".txt", ".adoc", ".mdx")
_EXAMPLE_DIRS: Final = frozenset({"example", "examples"})


def is_source(path: str) -> bool:
    """What a spec writer lists: neither a test, a docs page, an example nor a prose file."""
    parts = path.lower().split("/")
    if is_test(path) or parts[-1].endswith(_PROSE):
        return False
    return not any(p in _DOC_DIRS or p in _EXAMPLE_DIRS for p in parts[:-1])
