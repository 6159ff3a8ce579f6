"""Inferred footprint sources beyond written paths: symbols ``[S]``, retrieval ``[R]``, history
``[H]``, combined with confidences.

``infer`` asks the repository's index (``repoindex.RepoIndex``) about one spec. Each source is
deliberately modest: a guessed path makes the task wait for others that touch it, so every
source keeps only what clears its own confidence bar, and the total number of guesses is capped.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from coordinator.core.cochange import Rules, core_stem, is_doc, is_source, is_test
from coordinator.core.companions import companion_hits
from coordinator.core.models import FootprintSource
from coordinator.core.repoindex import RepoIndex
from coordinator.core.terms import identifiers, is_compound, words

MIN_HISTORY: Final = 10  # fewer past changes say nothing about what changes usually
MAX_DEFINERS: Final = 3  # a name defined in more files than this is too common to point at one
# How sure a match is, by how the name was written (see ``terms.Identifier``).
_KIND_CONFIDENCE: Final = {
    "code": 0.9,
    "option": 0.85,
    "dotted": 0.85,
    "compound": 0.8,
    "message": 0.8,
    "word": 0.45,
}


@dataclass(frozen=True)
class Settings:
    """Which sources run and their thresholds (the config's ``[predict]`` table)."""

    symbols: bool = True
    retrieval: bool = True
    history: bool = True
    retrieval_top: int = 3  # at most this many files from ranking
    retrieval_ratio: float = 0.6  # ... each scoring at least this share of the best one
    history_support: int = 2
    history_confidence: float = 0.15
    history_recent: int = 100  # a file changed by ``history_share`` of the last ``history_recent``
    history_share: float = 0.3  # changes (a changelog) is predicted for every task
    companions: int = 3  # at most this many tests and docs of written files, ranked by the text
    companion_confidence: float = 0.2  # ... each at least this sure (text score times tie)
    similar: int = 5  # past changes whose messages resemble the spec vote for their files
    min_confidence: float = 0.25  # inferred paths below this are dropped
    max_inferred: int = 12  # at most this many inferred paths per task, most confident first


DEFAULT_SETTINGS: Final = Settings()


@dataclass(frozen=True)
class Inferred:
    path: str
    source: FootprintSource
    confidence: float


def symbol_hits(body: str, index: RepoIndex) -> dict[str, float]:
    """``[S]``: files defining the names the text uses; a name defined in n files gives each
    of them 1/sqrt(n) of the confidence its way of writing earns."""
    hits: dict[str, float] = {}
    for ident in identifiers(body):
        files = index.definers(ident)
        if not files or len(files) > MAX_DEFINERS:
            continue
        confidence = _KIND_CONFIDENCE[ident.kind] / math.sqrt(len(files))
        for path in files:
            hits[path] = max(hits.get(path, 0.0), confidence)
    return hits


def retrieval_hits(body: str, index: RepoIndex, settings: Settings) -> dict[str, float]:
    """``[R]``: the best-ranked files; confidence is a file's score over the best one's, times
    0.7 (a lexical match alone is a hint, never certainty)."""
    ranked = index.ranker.rank(words(body), settings.retrieval_top)
    if not ranked:
        return {}
    best = ranked[0][1]
    return {
        path: 0.7 * score / best
        for path, score in ranked
        if score >= settings.retrieval_ratio * best
    }


def similar_hits(body: str, index: RepoIndex, settings: Settings) -> dict[str, float]:
    """``[H]``: files of the past changes whose messages rank best against the spec; a file's
    confidence is its share of the votes (scores) of those changes."""
    if len(index.messages) < MIN_HISTORY or settings.similar <= 0:
        return {}
    ranked = index.past.rank(words(body), settings.similar)
    if not ranked:
        return {}
    best = ranked[0][1]
    kept = [(int(key), score) for key, score in ranked if score >= 0.5 * best]
    total = sum(score for _, score in kept)
    votes: dict[str, float] = defaultdict(float)
    for position, score in kept:
        for path in index.changes[position]:
            votes[path] += score / total
    existing = set(index.paths)
    return {p: 0.8 * v for p, v in votes.items() if p in existing}


def infer(
    body: str,
    seeds: Mapping[str, float],
    index: RepoIndex,
    settings: Settings,
    *,
    agent: str | None = None,
) -> list[Inferred]:
    """Inferred paths for one spec, most confident first, seeds (written paths) excluded.

    ``seeds`` are the paths the spec writes (declared, files section, mentions) with their
    confidences: history starts from them as well as from the symbol and retrieval hits.
    A spec that names no path and would get no inferred one either gets its single best
    candidate even below ``min_confidence``: a weak guess lets it run beside others, while an
    empty footprint makes it run alone.

    A spec that writes a source file with certainty has said which sources change: history then
    adds the tests, docs, examples and changelog such writers leave out, and no further source
    file (unless most changes touch it). Rules from a rarely changed file are confident on two
    observations (``_textwrap.py`` changed twice, each time with a dozen modules), and a
    guessed source costs a wait on every task that touches it.
    """
    found: dict[str, Inferred] = {}
    weak: list[Inferred] = []
    frequent = (
        index.cochange.frequent(settings.history_recent, settings.history_share)
        if settings.history and index.cochange.changes >= MIN_HISTORY
        else {}
    )
    lists_sources = any(w >= 1.0 and is_source(p) for p, w in seeds.items())

    def offer(
        path: str, source: FootprintSource, confidence: float, bar: float = settings.min_confidence
    ) -> None:
        if path in seeds or (
            lists_sources
            and source is FootprintSource.HISTORY
            and is_source(path)
            and path not in frequent
        ):
            return
        if confidence < bar:
            weak.append(Inferred(path, source, confidence))
            return
        known = found.get(path)
        if known is None or confidence > known.confidence:
            found[path] = Inferred(path, source, confidence)

    if settings.symbols:
        for path, confidence in symbol_hits(body, index).items():
            offer(path, FootprintSource.SYMBOLS, confidence)
    if settings.retrieval and not seeds:  # lexical guesses only when no path is written
        for path, confidence in retrieval_hits(body, index, settings).items():
            offer(path, FootprintSource.RETRIEVAL, confidence)
    chosen = _best(found, settings.max_inferred)
    if settings.history:
        start = {**{i.path: i.confidence for i in chosen}, **seeds}
        for path, confidence in history_hits(body, start, index, settings, agent):
            offer(path, FootprintSource.HISTORY, confidence)
        written = {p: w for p, w in seeds.items() if w >= 1.0}
        if written:  # what certain paths imply clears a lower bar than what guesses imply
            bar = settings.min_confidence / 2
            for path, confidence in history_hits("", written, index, settings, None):
                offer(path, FootprintSource.HISTORY, confidence, bar)
            if settings.companions:
                scores = index.ranker.query(words(body))
                companions = companion_hits(
                    written,
                    index.cochange,
                    scores,
                    settings.companions,
                    exclude=found,
                    named=index.named_tests,
                )
                for path, confidence in companions.items():
                    offer(path, FootprintSource.HISTORY, confidence, settings.companion_confidence)
        chosen = _best(found, settings.max_inferred)
    if not chosen and not seeds and weak and settings.max_inferred:
        return [max(weak, key=lambda i: (i.confidence, i.path))]
    return chosen


def history_hits(
    body: str,
    start: Mapping[str, float],
    index: RepoIndex,
    settings: Settings,
    agent: str | None,
) -> Iterator[tuple[str, float]]:
    """``[H]``: co-change rules from ``start`` (written and inferred paths with their
    confidences), tests and docs named after them, the agent type's habits, files most changes
    touch, the tests named after (and the tests and docs using) a name the spec writes, and the
    files of past changes whose messages resemble the spec."""
    rules = Rules(settings.history_support, settings.history_confidence)
    yield from index.cochange.implied(start, rules).items()
    for namesakes in index.namesakes:
        for seed, weight in start.items():
            yield from ((path, weight * namesakes.confidence) for path in namesakes.of(seed))
    yield from named_test_hits(body, start, index).items()
    yield from usage_hits(body, start, index).items()
    yield from (index.habits.get(agent or "") or {}).items()
    if settings.history_share < 1 and index.cochange.changes >= MIN_HISTORY:
        yield from index.cochange.frequent(settings.history_recent, settings.history_share).items()
    yield from similar_hits(body, index, settings).items()


def named_test_hits(body: str, start: Mapping[str, float], index: RepoIndex) -> dict[str, float]:
    """``[H]``: the tests named after a name the spec writes as code and one of the predicted
    files defines (`` `style()` `` of ``termui.py`` is ``tests/test_utils/test_style.py``), as
    sure as the name's way of writing times the file's weight."""
    named = {
        ident.name.removesuffix("()").rpartition(".")[2].lower(): _KIND_CONFIDENCE[ident.kind]
        for ident in identifiers(body)
        if ident.kind in _NAMED_KINDS
    }
    if not named:
        return {}
    hits: dict[str, float] = {}
    for seed, weight in start.items():
        for test in index.named_tests.get(seed, ()):
            confidence = weight * named.get(core_stem(test), 0.0)
            if confidence > hits.get(test, 0.0):
                hits[test] = confidence
    return hits


_NAMED_KINDS: Final = frozenset({"code", "dotted", "compound"})
MAX_USERS: Final = 10  # a name more tests and docs use than this is too common to point at one


def usage_hits(body: str, start: Mapping[str, float], index: RepoIndex) -> dict[str, float]:
    """``[H]``: the tests and docs that use a name the spec writes as code and a predicted file
    defines (`` `ParameterSource` `` of ``core.py`` is documented in ``docs/commands.md``): a
    change to a name changes where it is tested and documented. Only compound names
    (``show_envvar``, ``ParameterSource``) count: a plain word like ``help`` is used
    everywhere. A name used in n such files gives each 1/sqrt(n) of its confidence."""
    hits: dict[str, float] = {}
    for ident in identifiers(body):
        name = ident.name.removesuffix("()").rpartition(".")[2]
        if ident.kind not in _NAMED_KINDS or not is_compound(name):
            continue
        weight = max((start.get(p, 0.0) for p in index.definers(ident)), default=0.0)
        if not weight:
            continue
        users = [p for p in index.ranker.scores([name.lower()]) if is_test(p) or is_doc(p)]
        if not users or len(users) > MAX_USERS:
            continue
        confidence = weight * _KIND_CONFIDENCE[ident.kind] / math.sqrt(len(users))
        for path in users:
            hits[path] = max(hits.get(path, 0.0), confidence)
    return hits


def _best(found: Mapping[str, Inferred], limit: int) -> list[Inferred]:
    return sorted(found.values(), key=lambda i: (-i.confidence, i.path))[:limit]
