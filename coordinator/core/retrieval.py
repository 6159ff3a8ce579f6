"""The ``[R]`` source: lexical ranking of the repository's files against a spec's text.

Ranking is BM25 as implemented by ``bm25s`` (maintained, numpy only, scores a query against
every document in one sparse product). This module is the glue: each file's document is its
path's words (weighted, since a file's name says most about it) plus the terms its content
yielded (``symbols.FileFacts``); the query is the spec's words. Nothing here reads files.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from coordinator.core.terms import words

PATH_WEIGHT: Final = 3  # each word of a file's path counts as this many occurrences
RECENT_QUERIES: Final = 16  # the scores of this many recent queries are kept, the oldest dropped


def path_terms(path: str) -> list[str]:
    """The words of a path: ``src/click/_termui_impl.py`` -> click termui impl termui_impl ...;
    the extension is left out (every Python file would share ``py``)."""
    stem = path.rsplit(".", 1)[0] if "." in path.rpartition("/")[2] else path
    return words(stem.replace("/", " ").replace("-", "_"))


class Ranker:
    """BM25 over one document per file, built once per base commit.

    ``documents`` maps each path to its content terms with counts; a file without content
    terms still has its path's words.
    """

    def __init__(
        self,
        paths: Sequence[str],
        documents: Mapping[str, Sequence[tuple[str, int]]],
        *,
        path_weight: int = PATH_WEIGHT,
    ) -> None:
        self.paths = tuple(paths)
        self._layout: Layout | None = None
        self._recent: dict[tuple[str, ...], Scores] = {}
        corpus: list[list[str]] = []
        for path in self.paths:
            tokens = path_terms(path) * path_weight
            for term, count in documents.get(path, ()):
                tokens.extend([term] * count)
            corpus.append(tokens or ["\0empty"])
        import bm25s  # noqa: PLC0415 - numpy and bm25s load only when a spec needs ranking

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG

        self._bm25: Any = bm25s.BM25()
        self._bm25.index(corpus, show_progress=False)

    @property
    def engine(self) -> Any:
        """The ``bm25s.BM25`` object, for the cache to save."""
        return self._bm25

    @classmethod
    def from_engine(cls, paths: Sequence[str], engine: Any) -> Ranker:
        """A ranker around an engine loaded from the cache (documents in ``paths`` order)."""
        ranker = cls.__new__(cls)
        ranker.paths = tuple(paths)
        ranker._layout = None
        ranker._recent = {}
        ranker._bm25 = engine
        return ranker

    def scores(self, query: Sequence[str]) -> dict[str, float]:
        """Every file's positive score for ``query`` terms (one sparse product)."""
        terms = [t for t in dict.fromkeys(query) if t in self._bm25.vocab_dict]
        if not terms or not self.paths:
            return {}
        import numpy as np  # noqa: PLC0415

        scores = np.asarray(self._bm25.get_scores(terms), dtype=np.float64)
        return {self.paths[i]: float(scores[i]) for i in np.flatnonzero(scores > 0)}

    def query(self, query: Sequence[str]) -> Scores:
        """Every file's score for ``query`` terms, looked up by path: the query of a spec
        whose words every spec file holds scores the whole repository, and a dict of 50,000
        scores per spec is what made planning 50,000 such specs slow."""
        terms = tuple(t for t in dict.fromkeys(query) if t in self._bm25.vocab_dict)
        if not terms or not self.paths:
            return Scores.of({})
        recent = self._recent
        known = recent.get(terms)
        if known is not None:  # specs written from one template ask the same query
            return known
        import numpy as np  # noqa: PLC0415

        values = np.asarray(self._bm25.get_scores(list(terms)), dtype=np.float64)
        if self._layout is None:
            self._layout = Layout(self.paths)
        scores = Scores(self._layout, values, float(values.max()))
        if len(recent) >= RECENT_QUERIES:
            del recent[next(iter(recent))]
        recent[terms] = scores
        return scores

    def rank(self, query: Sequence[str], top: int) -> list[tuple[str, float]]:
        """The ``top`` best files for ``query`` terms with positive scores, best first."""
        terms = [t for t in dict.fromkeys(query) if t in self._bm25.vocab_dict]
        if not terms or not self.paths:
            return []
        import numpy as np  # noqa: PLC0415

        scores = np.asarray(self._bm25.get_scores(terms), dtype=np.float64)
        count = min(top, len(scores))
        best = np.argpartition(-scores, count - 1)[:count]
        ranked = sorted(
            ((float(scores[i]), self.paths[i]) for i in best), key=lambda x: (-x[0], x[1])
        )
        return [(path, score) for score, path in ranked if score > 0]


class Layout:
    """Where each path is in a ranker's documents and which are in each directory (built once
    per ranker, shared by every query's ``Scores``)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = tuple(paths)
        self.position = {path: i for i, path in enumerate(self.paths)}
        self._folders: dict[str, list[int]] | None = None

    def in_folder(self, folder: str) -> Sequence[int]:
        if self._folders is None:
            grouped: dict[str, list[int]] = defaultdict(list)
            for i, path in enumerate(self.paths):
                grouped[path.rpartition("/")[0]].append(i)
            self._folders = dict(grouped)
        return self._folders.get(folder, ())


class Scores(Mapping[str, float]):
    """A query's positive scores by path, as a read-only mapping that never builds a dict of
    every file: ``get`` is one lookup, ``within`` reads only the directories asked for."""

    def __init__(self, layout: Layout, values: Any, best: float) -> None:
        self._layout = layout
        self._values = values  # one score per path of the layout, in its order
        self.best = best  # the highest score; 0 when no file scores

    @classmethod
    def of(cls, scores: Mapping[str, float]) -> Scores:
        """The positive scores of a plain mapping (what tests and small callers have)."""
        if isinstance(scores, Scores):
            return scores
        kept = {p: float(v) for p, v in scores.items() if v > 0}
        return cls(Layout(tuple(kept)), list(kept.values()), max(kept.values(), default=0.0))

    def __getitem__(self, path: str) -> float:
        i = self._layout.position.get(path)
        value = 0.0 if i is None else float(self._values[i])
        if value <= 0:
            raise KeyError(path)
        return value

    def __iter__(self) -> Iterator[str]:
        paths = self._layout.paths
        return (paths[i] for i in range(len(paths)) if self._values[i] > 0)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def within(self, folders: Iterable[str]) -> Iterator[str]:
        """The paths with a positive score directly inside one of ``folders``."""
        paths = self._layout.paths
        for folder in folders:
            for i in self._layout.in_folder(folder):
                if self._values[i] > 0:
                    yield paths[i]
