"""Part of ``[H]``: the tests and docs pages that change with a written source file, chosen by
what the spec says.

A module like ``core.py`` changes in a quarter of a project's commits, each time with a
different test or docs page: no single co-change rule ``core.py -> tests/test_defaults.py`` is
confident (4% of ``core.py``'s changes), so confidence thresholds miss them all, and lowering
the threshold would predict every test of the project. What picks the right one is the spec:
"split string values from ``default_map``" names the defaults. So the candidates are the tests
and docs that history ever changed together with a written file, and they are ranked by their
lexical (BM25) score against the spec, weighed by how tied each one is to that file: the share
of the companion's own changes that touched it (a test changed nine times in ten with
``core.py`` belongs to it, even though ``core.py`` mostly changes without it). Only the best
few are kept, so a spec costs at most ``top`` more files.

A test named after one of the file's definitions (``tests/test_utils/test_style.py`` for
``style`` of ``termui.py``) is a candidate too, even with no history: projects that split a
module's tests by function name create such files long after the module, and the spec's words
("validate ``style()`` colors") still say which one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping

from coordinator.core.cochange import CoChange, is_doc, is_test
from coordinator.core.retrieval import Scores

PRIOR = 0.2  # a companion that rarely changed with the seed still earns this much of its text score
SIBLINGS = 0.2  # the tie of a test or doc never changed with the seed, beside one that was
NAMED = 0.5  # the tie of a test named after one of the seed's definitions


def companion_hits(
    seeds: Mapping[str, float],
    cochange: CoChange,
    scores: Mapping[str, float],
    top: int,
    exclude: Collection[str] = (),
    named: Mapping[str, Collection[str]] | None = None,
) -> dict[str, float]:
    """The ``top`` best tests and docs of the seeds by text score times tie, with that product
    (times the seed's weight) as their confidence.

    ``scores`` are the spec's BM25 scores by file; a file's text score is its score over the
    best file's (so the spec's own subject, often the seed itself, sets the scale). The tie of
    companion ``b`` to seed ``a`` is (changes of both) / (changes of ``b``) plus ``PRIOR``,
    capped at 1. A test or doc in the same directory as such a companion is a candidate too,
    with a tie of ``SIBLINGS`` (a test file split out of a companion has no history of its
    own yet). ``named`` maps a seed to the tests named after its definitions (tie ``NAMED``,
    or more when history gives more). Seeds and ``exclude`` (paths predicted already, which
    would waste the budget) are never returned.
    """
    text = Scores.of(scores)
    if top <= 0 or text.best <= 0:
        return {}
    best = text.best
    found: dict[str, float] = {}
    for seed, weight in seeds.items():
        ties: dict[str, float] = {}
        for path in (named or {}).get(seed, ()):
            ties[path] = NAMED
        for path, together in cochange.pairs.get(seed, Counter()).items():
            ties[path] = max(ties.get(path, 0.0), min(1.0, together / cochange.count[path] + PRIOR))
        if SIBLINGS:
            folders = {p.rpartition("/")[0] for p in ties if is_test(p) or is_doc(p)}
            for path in text.within(sorted(folders)):
                if path not in ties:
                    ties[path] = SIBLINGS
        for path, tie in ties.items():
            score = text.get(path, 0.0)
            if not score or path in seeds or path in exclude:
                continue
            if not (is_test(path) or is_doc(path)):
                continue
            confidence = weight * tie * score / best
            found[path] = max(found.get(path, 0.0), confidence)
    ranked = sorted(found.items(), key=lambda item: (-item[1], item[0]))
    return dict(ranked[:top])
