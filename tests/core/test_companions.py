"""``[H]`` companions: tests and docs of a written file, picked by the spec's words (no git)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from coordinator.core.cochange import CoChange
from coordinator.core.companions import NAMED, PRIOR, SIBLINGS, companion_hits
from coordinator.core.configpredict import PredictConfig
from coordinator.core.inference import MAX_USERS, Settings, infer, named_test_hits, usage_hits
from coordinator.core.models import FootprintSource
from coordinator.core.repoindex import RepoIndex
from coordinator.core.retrieval import RECENT_QUERIES, Scores
from coordinator.core.symbols import extract
from coordinator.core.terms import words

SOURCES = {
    "src/app/core.py": (
        "def lookup_default(name):\n    return None\n\ndef make_context():\n    pass\n"
    ),
    "src/app/other.py": "def other():\n    pass\n",
    "tests/test_defaults.py": "def test_default_map_split():\n    assert lookup_default('x')\n",
    "tests/test_context.py": "def test_context_callback():\n    assert make_context()\n",
    "tests/test_basic.py": "def test_basic():\n    pass\n",
    "tests/test_unrelated_defaults.py": "def test_defaults_elsewhere():\n    pass\n",
    "docs/defaults.md": "# Defaults\n\nThe default map gives every option its default.\n",
    "CHANGES.md": "# Changes\n",
}
PATHS = tuple(sorted(SOURCES))
# core.py changes often, each time with another test: no rule core.py -> test reaches 15%
HISTORY = [
    ["src/app/core.py", "CHANGES.md"],
    ["src/app/core.py", "tests/test_defaults.py"],
    ["src/app/core.py", "tests/test_context.py"],
    ["src/app/core.py", "tests/test_basic.py"],
    ["src/app/core.py", "docs/defaults.md"],
    *[["src/app/core.py", "CHANGES.md"]] * 10,
    ["tests/test_basic.py"],
    ["tests/test_basic.py"],
    ["tests/test_unrelated_defaults.py", "src/app/other.py"],
]


def index() -> RepoIndex:
    facts = {path: extract(path, text) for path, text in SOURCES.items()}
    return RepoIndex.from_facts(PATHS, facts, changes=HISTORY, messages=["m"] * len(HISTORY))


def test_the_companion_the_spec_talks_about_wins_with_a_confidence_from_text_and_tie() -> None:
    idx = index()
    scores = idx.ranker.scores(words("Split string values from the default map"))
    found = companion_hits({"src/app/core.py": 1.0}, idx.cochange, scores, top=1)
    assert list(found) in (["tests/test_defaults.py"], ["docs/defaults.md"])
    both = companion_hits({"src/app/core.py": 1.0}, idx.cochange, scores, top=5)
    assert {"tests/test_defaults.py", "docs/defaults.md"} <= set(both)
    # test_defaults.py changed once, with core.py: tie 1.0; its text score is at most the best
    assert 0 < both["tests/test_defaults.py"] <= 1.0
    # never changed with core.py, though its name matches: not a companion of core.py
    assert "tests/test_unrelated_defaults.py" not in both
    assert "src/app/other.py" not in both and "CHANGES.md" not in both  # tests and docs only


def test_the_tie_is_the_companions_share_of_changes_with_the_seed_plus_a_prior() -> None:
    cochange = CoChange([["a.py", "tests/test_a.py"], ["tests/test_a.py"], ["tests/test_a.py"]])
    scores = {"tests/test_a.py": 2.0, "a.py": 4.0}
    found = companion_hits({"a.py": 0.5}, cochange, scores, top=3)
    assert found == {"tests/test_a.py": pytest.approx(0.5 * (1 / 3 + PRIOR) * 2.0 / 4.0)}


def test_no_text_no_budget_or_no_history_gives_nothing() -> None:
    idx = index()
    scores = idx.ranker.scores(words("default map"))
    assert companion_hits({"src/app/core.py": 1.0}, idx.cochange, {}, top=3) == {}
    assert companion_hits({"src/app/core.py": 1.0}, idx.cochange, scores, top=0) == {}
    assert companion_hits({"src/app/new.py": 1.0}, idx.cochange, scores, top=3) == {}


def test_infer_adds_the_companions_of_declared_files_as_history() -> None:
    idx = index()
    only_h = Settings(symbols=False, retrieval=False, similar=0, history_share=1.0)
    body = "Provide the altered context to callbacks"
    found = {i.path: i for i in infer(body, {"src/app/core.py": 1.0}, idx, only_h)}
    assert "tests/test_context.py" in found
    assert found["tests/test_context.py"].source is FootprintSource.HISTORY
    assert "tests/test_defaults.py" not in found
    off = infer(body, {"src/app/core.py": 1.0}, idx, Settings(
        symbols=False, retrieval=False, similar=0, history_share=1.0, companions=0
    ))  # fmt: skip
    assert "tests/test_context.py" not in {i.path for i in off}


def test_namesakes_learn_from_history_under_todays_names() -> None:
    paths = ["src/app/testing.py", "docs/testing.md"]
    history = [["src/app/testing.py", "docs/testing.md"]] + [
        ["src/app/testing.py", "docs/testing.rst"]
    ] * 5  # the page was docs/testing.rst until the newest change renamed it
    renames = [[("docs/testing.rst", "docs/testing.md")]] + [[]] * 5
    idx = RepoIndex.from_facts(paths, {}, changes=history, renames=renames)
    docs = idx.namesakes[1]
    assert docs.of("src/app/testing.py") == ("docs/testing.md",)
    assert docs.confidence == 1.0  # all six changes, not only the newest


def test_a_new_test_beside_a_companion_is_a_candidate_too() -> None:
    # tests/utils/ was split out recently: test_style.py has no history with termui.py yet,
    # but its neighbour test_echo.py has
    cochange = CoChange([["src/termui.py", "tests/utils/test_echo.py"]] * 3)
    scores = {"tests/utils/test_style.py": 3.0, "tests/test_style_other.py": 3.0, "x.py": 3.0}
    found = companion_hits({"src/termui.py": 1.0}, cochange, scores, top=3)
    assert found == {"tests/utils/test_style.py": pytest.approx(SIBLINGS)}


def test_the_companion_budget_is_a_predict_setting() -> None:
    assert PredictConfig().settings().companions == 3
    assert PredictConfig(companions=0).settings().companions == 0
    with pytest.raises(ValidationError, match="companions"):
        PredictConfig(companions=-1)


def test_paths_predicted_already_do_not_use_up_the_budget() -> None:
    idx = index()
    scores = idx.ranker.scores(words("Split string values from the default map"))
    first = next(iter(companion_hits({"src/app/core.py": 1.0}, idx.cochange, scores, top=1)))
    again = companion_hits({"src/app/core.py": 1.0}, idx.cochange, scores, top=1, exclude={first})
    assert len(again) == 1 and first not in again


SPLIT = {  # tests split by function name, long after the module: no history with it
    "src/app/termui.py": "def style(text):\n    pass\n\ndef echo_via_pager(x):\n    pass\n",
    "src/app/colors.py": "def style_sheet():\n    pass\n",
    "tests/test_utils/test_style.py": "def test_fg():\n    assert style('x', fg='red')\n",
    "tests/test_utils/test_echo_via_pager.py": "def test_pager():\n    pass\n",
    "tests/test_termui.py": "def test_termui():\n    pass\n",
}


def split_index() -> RepoIndex:
    facts = {path: extract(path, text) for path, text in SPLIT.items()}
    history = [["src/app/termui.py", "tests/test_termui.py"]] * 3
    return RepoIndex.from_facts(tuple(sorted(SPLIT)), facts, changes=history)


def test_tests_named_after_a_files_definitions_are_known() -> None:
    named = split_index().named_tests
    assert set(named["src/app/termui.py"]) == {
        "tests/test_utils/test_style.py",
        "tests/test_utils/test_echo_via_pager.py",
    }
    assert "src/app/colors.py" not in named  # style_sheet names no test


def test_a_test_named_after_a_name_the_spec_writes_is_predicted() -> None:
    idx = split_index()
    hits = named_test_hits("Validate `style()` color arguments", {"src/app/termui.py": 1.0}, idx)
    assert hits == {"tests/test_utils/test_style.py": pytest.approx(0.9)}
    assert named_test_hits("Validate style colors", {"src/app/termui.py": 1.0}, idx) == {}
    assert named_test_hits("`style()`", {"src/app/colors.py": 1.0}, idx) == {}
    settings = Settings(symbols=False, retrieval=False, similar=0, history_share=1.0)
    found = {i.path for i in infer("Fix `style()`", {"src/app/termui.py": 1.0}, idx, settings)}
    assert "tests/test_utils/test_style.py" in found


def test_a_named_test_is_a_companion_candidate_ranked_by_the_text() -> None:
    idx = split_index()
    scores = idx.ranker.scores(words("pager output is cut"))
    found = companion_hits(
        {"src/app/termui.py": 1.0}, idx.cochange, scores, top=1, named=idx.named_tests
    )
    assert list(found) == ["tests/test_utils/test_echo_via_pager.py"]
    assert 0 < found["tests/test_utils/test_echo_via_pager.py"] <= NAMED


def test_tests_and_docs_using_a_name_the_spec_writes_and_a_seed_defines() -> None:
    files = {
        "src/app/core.py": "class ParameterSource:\n    pass\n\ndef help_text():\n    pass\n",
        "docs/commands.md": "Ask `ctx.get_parameter_source` for a ParameterSource.\n",
        "tests/test_context.py": "def test_source():\n    assert ParameterSource\n",
        "tests/test_other.py": "def test_other():\n    pass\n",
        "src/app/user.py": "from app.core import ParameterSource\n",
    }
    facts = {path: extract(path, text) for path, text in files.items()}
    idx = RepoIndex.from_facts(tuple(sorted(files)), facts)
    hits = usage_hits("Reorder `ParameterSource`", {"src/app/core.py": 1.0}, idx)
    # used by two tests and docs (the source user.py is not one): 0.9 / sqrt(2) each
    assert hits == {
        "docs/commands.md": pytest.approx(0.9 / 2**0.5),
        "tests/test_context.py": pytest.approx(0.9 / 2**0.5),
    }
    assert usage_hits("Reorder `ParameterSource`", {"src/app/user.py": 1.0}, idx) == {}
    assert usage_hits("Reorder ParameterSource and `help`", {}, idx) == {}
    crowded = dict(files)
    for n in range(MAX_USERS):
        crowded[f"tests/test_p{n}.py"] = "def test_p():\n    assert ParameterSource\n"
    facts = {path: extract(path, text) for path, text in crowded.items()}
    wide = RepoIndex.from_facts(tuple(sorted(crowded)), facts)
    assert usage_hits("`ParameterSource`", {"src/app/core.py": 1.0}, wide) == {}


def test_a_querys_scores_are_looked_up_by_path_and_by_directory() -> None:
    idx = index()
    query = words("Split string values from the default map")
    scores = idx.ranker.query(query)
    plain = idx.ranker.scores(query)
    assert dict(scores.items()) == plain  # the same positive scores as the plain dict
    assert scores.best == max(plain.values())
    assert scores.get("src/app/nowhere.py", 0.0) == 0.0
    assert set(scores.within(["tests"])) == {p for p in plain if p.startswith("tests/")}
    assert idx.ranker.query(["zzz-unknown"]).best == 0.0
    assert Scores.of({"a.py": 2.0, "b.py": 0.0}) == {"a.py": 2.0}


def test_a_repeated_query_is_scored_once_and_old_ones_are_dropped() -> None:
    ranker = index().ranker
    first = ranker.query(words("the default map"))
    assert ranker.query(words("default map, the map")) is first  # the same terms
    others = sorted(set(words(" ".join(SOURCES.values()))) - {"default", "map"})
    assert sum(ranker.query([term]).best > 0 for term in others) >= RECENT_QUERIES
    again = ranker.query(words("the default map"))
    assert again is not first and dict(again.items()) == dict(first.items())
