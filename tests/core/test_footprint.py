"""Footprint prediction from specs, overlap detection between tasks, and footprint violations."""

from __future__ import annotations

import itertools
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.core.footprint import (
    OverlapIndex,
    RepoPaths,
    footprints_overlap,
    predict,
    violations,
)
from coordinator.core.models import (
    Footprint,
    FootprintMode,
    FootprintSource,
    PathClaim,
    TaskSpec,
)

D, F, M = FootprintSource.DECLARED, FootprintSource.FILES_SECTION, FootprintSource.MENTIONED

REPO = RepoPaths.from_files(
    [
        "README.md",
        "Makefile",
        "calc/__init__.py",
        "src/auth/login.py",
        "src/auth/session.py",
        "src/x.py",
        "docs/usage.md",
        "e.g",
    ]
)


def spec(
    body: str = "", files: tuple[str, ...] = (), mode: FootprintMode | None = None
) -> TaskSpec:
    return TaskSpec(
        id="t", agent="a", body=body, source="specs/t.md", order=0, files=files, footprint_mode=mode
    )


def claims(body: str = "", **kwargs: object) -> dict[str, FootprintSource]:
    footprint, _ = predict(spec(body, **kwargs), REPO)  # type: ignore[arg-type]
    return {c.pattern: c.source for c in footprint.claims}


def mentioned(body: str) -> list[str]:
    return [p for p, source in claims(body).items() if source is M]


def fp(*patterns: str, exclusive: bool = False) -> Footprint:
    return Footprint(tuple(PathClaim(p, D) for p in patterns), exclusive=exclusive)


# ---------------------------------------------------------------------------------------------
# RepoPaths


def test_repo_paths_lists_every_ancestor_directory_and_the_root() -> None:
    repo = RepoPaths.from_files(["a/b/c.py", "d.txt"])
    assert repo.files == {"a/b/c.py", "d.txt"}
    assert repo.dirs == {"", "a", "a/b"}


def test_repo_paths_under_and_expand_use_the_literal_prefix() -> None:
    assert REPO.under("src/auth") == ("src/auth/login.py", "src/auth/session.py")
    assert REPO.under("src/x.py") == ("src/x.py",)
    assert REPO.expand("src/**/*.py") == ("src/auth/login.py", "src/auth/session.py", "src/x.py")
    assert REPO.expand("src/auth") == ("src/auth/login.py", "src/auth/session.py")


# ---------------------------------------------------------------------------------------------
# Sources: declared and ## Files


def test_declared_files_need_not_exist_and_keep_their_order() -> None:
    assert claims(files=("new/dir/x.py", "src/**")) == {"new/dir/x.py": D, "src/**": D}


@pytest.mark.parametrize("heading", ["## Files", "# files", "###### FILES", "## Files:"])
def test_files_section_under_any_heading_level(heading: str) -> None:
    assert claims(f"# Task\n\n{heading}\n- nowhere/new.py\n") == {"nowhere/new.py": F}


@pytest.mark.parametrize(
    "item",
    [
        "- a/b.py",
        "* a/b.py",
        "1. a/b.py",
        "- `a/b.py`",
        "- a/b.py — the new module",
        "- a/b.py - the new module",
        "- a/b.py: the new module",
        "- `a/b.py`: the new module",
        "- ./a/b.py",
        "- [ ] a/b.py",
    ],
)
def test_files_section_item_forms(item: str) -> None:
    assert claims(f"## Files\n{item}\n") == {"a/b.py": F}


def test_files_section_allows_globs_and_ends_at_the_next_heading() -> None:
    body = "## Files\n- src/**/*.py\n- `tests/test_[ab].py`\n\n## Notes\n- nowhere/x.py\n"
    assert claims(body) == {"src/**/*.py": F, "tests/test_[ab].py": F}


def test_files_section_ignores_fenced_lines_and_warns_about_non_paths() -> None:
    body = "## Files\n```\n- fenced/x.py\n```\n- https://x.org/x.py\n- /etc/passwd\n- a/b.py\n"
    footprint, warnings = predict(spec(body), REPO)
    assert footprint.patterns == ("a/b.py",)
    assert len(warnings) == 2
    assert all("## Files: ignored" in w for w in warnings)


def test_a_heading_inside_a_fence_does_not_open_a_section() -> None:
    assert claims("```\n## Files\n```\n- nowhere/x.py\n") == {}


# ---------------------------------------------------------------------------------------------
# Mentions


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Edit `src/x.py` now.", ["src/x.py"]),
        ("Edit src/x.py now.", ["src/x.py"]),
        ("See README.md.", ["README.md"]),  # ends in an extension; trailing period stripped
        ("Run `make` with the `Makefile`.", ["Makefile"]),  # a tracked file in backticks
        ("Read the Makefile", []),  # a bare word needs a / or an extension
        ("Create `calc/ops.py`.", ["calc/ops.py"]),  # new file, existing directory
        ("Create calc/ops.py, then src/auth/new.py;", ["calc/ops.py", "src/auth/new.py"]),
        ("Create `CHANGELOG.md` at the root.", ["CHANGELOG.md"]),
        ("Create `nowhere/ops.py`.", []),  # its directory does not exist
        ("This, e.g. that, i.e. the other.", []),
        ("Bump v1.2 to 1.5 and Python 3.11.", []),
        ("Use `os.path` and `json.dumps`.", []),  # dotted code names, not new files
        ("See https://example.com/src/x.py and www.example.com/a.md.", []),
        ("Mail dev@example.com", []),
        ("Not /etc/hosts, ~/x.py, ../x.py, .git/config or src/../x.py.", []),
        ("The `src/auth` package and src/auth/ dir.", []),  # directories are context
        ("Read and/or write input/output.", []),
        ('Open "src/x.py" (and (src/auth/login.py)).', ["src/x.py", "src/auth/login.py"]),
        ("Fix ./src/x.py:12:4 and `src/auth/login.py:3`.", ["src/x.py", "src/auth/login.py"]),
        ("See [usage](docs/usage.md#install).", ["docs/usage.md"]),
        ("Run `pytest src/x.py -k login`.", ["src/x.py"]),
        ("Use `a + b` and `docs-install`.", []),
        ("| file | why |\n|---|---|\n| src/x.py | it |", ["src/x.py"]),
        ("Not `src/*.py` or `--files`.", []),
        ("**src/x.py** is bold.", ["src/x.py"]),
        ("See e.g", []),  # tracked, but a bare abbreviation is not path-like
    ],
)
def test_mentions(body: str, expected: list[str]) -> None:
    assert mentioned(body) == expected


def test_fence_info_paths_are_mentions_but_fence_content_is_not() -> None:
    body = (
        "```write calc/ops.py\nimport src/x.py\nREADME.md\n```\n"
        "```append README.md\n## More\n```\n"
        "```replace LICENSE\nMIT\n```\n"
        "~~~python\ndocs/usage.md\n~~~\n"
    )
    assert mentioned(body) == ["calc/ops.py", "README.md", "LICENSE"]


def test_an_unclosed_fence_hides_the_rest_of_the_body() -> None:
    assert mentioned("```\nsrc/x.py\n") == []


def test_a_longer_closing_fence_closes_and_a_shorter_one_does_not() -> None:
    assert mentioned("````\n```\nsrc/x.py\n````\nREADME.md\n") == ["README.md"]


def test_each_path_keeps_its_strongest_source() -> None:
    body = "Edit `src/x.py` and `README.md`.\n\n## Files\n- src/x.py\n- README.md\n"
    assert claims(body, files=("README.md",)) == {"README.md": D, "src/x.py": F}


@pytest.mark.parametrize(("spec_mode", "mode"), [("declared", "infer"), (None, "declared")])
def test_declared_mode_turns_off_mentions_only(
    spec_mode: FootprintMode | None, mode: FootprintMode
) -> None:
    body = "Edit `src/x.py`.\n\n## Files\n- calc/new.py\n"
    footprint, _ = predict(spec(body, files=("a.txt",), mode=spec_mode), REPO, mode=mode)
    assert footprint.patterns == ("a.txt", "calc/new.py")


def test_the_spec_mode_overrides_the_config_mode() -> None:
    footprint, _ = predict(spec("Edit `src/x.py`.", mode="infer"), REPO, mode="declared")
    assert footprint.patterns == ("src/x.py",)


def test_an_unknown_footprint_is_exclusive_with_a_warning() -> None:
    footprint, warnings = predict(spec("Make it faster."), REPO, unknown="exclusive")
    assert footprint == Footprint(exclusive=True)
    assert len(warnings) == 1
    assert "exclusive" in warnings[0]


def test_an_unknown_footprint_may_be_shared_with_a_warning() -> None:
    footprint, warnings = predict(spec("Edit `src/x.py`.", mode="declared"), REPO, unknown="shared")
    assert footprint == Footprint()
    assert len(warnings) == 1
    assert "shared" in warnings[0]
    assert "declared" in warnings[0]


def test_an_empty_repository_still_takes_new_top_level_files() -> None:
    footprint, _ = predict(spec("Create `hello.txt`."), RepoPaths.from_files([]))
    assert footprint.patterns == ("hello.txt",)


# ---------------------------------------------------------------------------------------------
# Overlaps


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (("src/**",), ("src/a.py",), True),
        (("src/a/*.py",), ("src/b/*.py",), False),
        (("src/auth",), ("src/auth/login.py",), True),
        (("src/auth/login.py",), ("src/auth/session.py",), False),
        (("new/x.py",), ("new/x.py",), True),
        (("docs/*.md", "src/x.py"), ("src/*",), True),
        ((), ("src/**",), False),
        (("**/*.md",), ("src/x.py",), False),
        (("**/*.md",), ("src/auth",), True),  # a tracked directory covers its subtree
        (("src/*/x.py",), ("src/auth",), True),
        (("src/*/x.py",), ("src/new",), True),  # a new name without extension may be a dir
        (("src/*/x.py",), ("src/new.py",), False),  # a new file is one path for globs ...
        (("src/new.py/x.py",), ("src/new.py",), True),  # ... but literals always nest
        (("**/*.md",), ("calc/ops.py",), False),
        (("**/*.md",), ("Makefile",), False),  # tracked: a file, though extension-less
        (("src/auth/",), ("src/auth/login.py",), True),
    ],
)
def test_footprints_overlap(a: tuple[str, ...], b: tuple[str, ...], expected: bool) -> None:
    assert footprints_overlap(fp(*a), fp(*b), REPO) is expected
    assert footprints_overlap(fp(*b), fp(*a), REPO) is expected


def test_an_exclusive_footprint_overlaps_everything_pairwise() -> None:
    assert footprints_overlap(fp(exclusive=True), fp("a.py"), REPO)
    assert footprints_overlap(fp("a.py"), fp(exclusive=True), REPO)


def test_overlap_index_finds_every_kind_of_pair_and_does_not_expand_exclusive() -> None:
    footprints = {
        "glob": fp("src/**"),
        "file": fp("src/auth/login.py"),
        "dir": fp("src/auth"),
        "other": fp("docs/usage.md"),
        "same": fp("docs/usage.md"),
        "deep": fp("src/*/x.py"),
        "alone": fp(exclusive=True),
        "md": fp("**/*.md"),
        "new": fp("src/new"),
        "new-file": fp("src/new/x.py"),
        "new-glob": fp("src/new/*.py"),
        "new-py": fp("src/new.py"),
    }
    overlaps = OverlapIndex(footprints, REPO).overlaps()
    assert overlaps == {
        "glob": {"file", "dir", "deep", "md", "new", "new-file", "new-glob", "new-py"},
        "file": {"glob", "dir"},
        "dir": {"glob", "file", "deep", "md"},  # a tracked directory covers its subtree
        "other": {"same", "md"},
        "same": {"other", "md"},
        "deep": {"glob", "dir", "new", "new-file", "new-glob"},
        "alone": set(),
        "md": {"other", "same", "glob", "dir", "new"},  # not the files login.py and new.py
        "new": {"glob", "deep", "md", "new-file", "new-glob"},  # may be a new directory
        "new-file": {"glob", "deep", "new", "new-glob"},
        "new-glob": {"glob", "deep", "new", "new-file"},
        "new-py": {"glob"},
    }


def test_a_task_never_overlaps_itself() -> None:
    overlaps = OverlapIndex({"t": fp("src/**", "src/x.py")}, REPO).overlaps()
    assert overlaps == {"t": frozenset()}


def test_shared_paths_are_readable() -> None:
    footprints = {
        "a": fp("src/**", "README.md"),
        "b": fp("src/auth/login.py", "README.md"),
        "c": fp("src/*/*.py"),
        "d": fp("src/a*/*"),
        "e": fp("src/auth"),
        "f": fp("src/*"),
        "g": fp("src/[a-z]*.py"),
        "h": fp("src/new*/*.py"),
        "i": fp("src/*/a.py"),
    }
    index = OverlapIndex(footprints, REPO)
    assert index.shared_paths("a", "b") == ("README.md", "src/auth/login.py")
    assert index.shared_paths("c", "d") == ("src/auth/login.py", "src/auth/session.py")
    assert index.shared_paths("e", "b") == ("src/auth/login.py",)
    assert index.shared_paths("f", "g") == ("src/x.py",)  # the only tracked file in both
    assert index.shared_paths("h", "i") == ("src/*/a.py & src/new*/*.py",)  # none tracked
    assert index.shared_paths("a", "f") == ("src/x.py",)
    assert index.shared_paths("a", "d") == ("src/auth/login.py", "src/auth/session.py")
    assert index.shared_paths("a", "h") == ("src/** & src/new*/*.py",)


def test_shared_paths_summarise_many_tracked_files_as_the_pattern_pair() -> None:
    repo = RepoPaths.from_files(f"src/m{i}.py" for i in range(10))
    index = OverlapIndex({"a": fp("src/**"), "b": fp("src/*.py")}, repo)
    assert index.shared_paths("a", "b") == ("src/** & src/*.py",)


def test_violations_lists_changed_paths_outside_the_footprint() -> None:
    footprint = fp("src/auth", "docs/*.md")
    changed = ["src/auth/login.py", "docs/usage.md", "docs/deep/x.md", "README.md", "README.md"]
    assert violations(footprint, changed) == ["docs/deep/x.md", "README.md"]
    assert violations(fp(exclusive=True), changed) == []
    assert violations(fp(), ["a"]) == ["a"]


# ---------------------------------------------------------------------------------------------
# Property tests: the index against brute force

_NAMES = ["a", "b", "ab", "x.py", "*", "*.py", "[ab]", "**"]
_patterns = st.lists(st.sampled_from(_NAMES), min_size=1, max_size=3).map("/".join)
_footprints = st.builds(
    lambda ps, ex: fp(*ps, exclusive=ex), st.lists(_patterns, max_size=3), st.booleans()
)
_SMALL_REPO = RepoPaths.from_files(["a/x.py", "a/b/x.py", "ab", "b/ab/x.py"])


@given(_footprints, _footprints)
@settings(max_examples=200, deadline=None)
def test_overlap_is_symmetric(a: Footprint, b: Footprint) -> None:
    assert footprints_overlap(a, b, _SMALL_REPO) is footprints_overlap(b, a, _SMALL_REPO)


@given(st.lists(_footprints, min_size=1, max_size=8))
@settings(max_examples=200, deadline=None)
def test_overlap_index_agrees_with_pairwise_brute_force(footprints: list[Footprint]) -> None:
    by_id = {f"t{i}": footprint for i, footprint in enumerate(footprints)}
    overlaps = OverlapIndex(by_id, _SMALL_REPO).overlaps()
    assert set(overlaps) == set(by_id)
    for (a, fa), (b, fb) in itertools.combinations(by_id.items(), 2):
        plain = footprints_overlap(Footprint(fa.claims), Footprint(fb.claims), _SMALL_REPO)
        assert (b in overlaps[a]) is plain
        assert (a in overlaps[b]) is plain


# ---------------------------------------------------------------------------------------------
# Micro-benchmark (generous bound; the target is well under a second)


def test_benchmark_overlaps_of_10k_tasks_on_1k_shared_files() -> None:
    rng = random.Random(7)
    files = [f"pkg{i % 20}/sub{i % 7}/mod{i}.py" for i in range(1000)]
    repo = RepoPaths.from_files(files)
    footprints: dict[str, Footprint] = {}
    for t in range(10_000):
        patterns = rng.sample(files, 2)
        if t % 50 == 0:
            patterns.append(f"pkg{rng.randrange(20)}/sub{rng.randrange(7)}/*.py")
        elif t % 50 == 1:
            patterns.append(f"pkg{rng.randrange(20)}/**/mod1*.py")
        footprints[f"t{t}"] = fp(*patterns)
    start = time.perf_counter()
    overlaps = OverlapIndex(footprints, repo).overlaps()
    elapsed = time.perf_counter() - start
    assert len(overlaps) == 10_000
    # A generous bound only: the timing claim lives in scripts/bench plan.
    assert elapsed < 30.0, f"overlaps of 10k tasks took {elapsed:.2f}s"
