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
from collections.abc import Iterable, Mapping, Sequence
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

    def __init__(self, changes: Iterable[Sequence[str]], existing: Iterable[str] | None = None):
        keep = None if existing is None else frozenset(existing)
        self.count: Counter[str] = Counter()
        self.pairs: dict[str, Counter[str]] = defaultdict(Counter)
        self.changes = 0
        self._recent: list[list[str]] = []
        for change in changes:
            files = sorted({f for f in change if keep is None or f in keep})
            if not files or len(files) > MAX_CHANGE:
                continue
            self.changes += 1
            self._recent.append(files)
            self.count.update(files)
            for a in files:
                together = self.pairs[a]
                together.update(b for b in files if b != a)

    def frequent(self, recent: int, share: float) -> dict[str, float]:
        """Files changed by at least ``share`` of the newest ``recent`` change sets (a changelog
        most changes add to), with that share; ``changes`` must be given newest first."""
        counted: Counter[str] = Counter()
        seen = 0
        for files in self._recent[:recent]:
            counted.update(files)
            seen += 1
        return {f: n / seen for f, n in counted.items() if seen and n / seen >= share}

    def implied(
        self, seeds: Mapping[str, float], rules: Rules = Rules(), exclude: Iterable[str] = ()
    ) -> dict[str, float]:
        """Files implied by the seeds: ``b`` gets max over seeds ``a`` of
        weight(a) * confidence(a -> b), for rules passing the thresholds.

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
                score = weight * confidence
                if score > out.get(b, 0.0):
                    out[b] = score
        return out


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
    return {
        path: n / tasks for path, n in missed.items() if n >= support and n / tasks >= share
    }
