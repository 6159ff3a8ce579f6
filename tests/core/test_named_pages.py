"""``[M]``: docs pages and test files named by a word near "docs" or "tests" (no git)."""

from __future__ import annotations

import pytest

from coordinator.core.footprint import RepoPaths
from coordinator.core.mentions import resolve_mentions

REPO = RepoPaths.from_files(
    [
        "docs/options.md",
        "docs/commands-and-groups.rst",
        "docs/entry-points.rst",
        "docs/exceptions.rst",
        "docs/api.md",
        "docs/api.rst",
        "src/app/core.py",
        "src/app/options.py",
        "tests/test_deprecations.py",
        "tests/conftest.py",
        "middleware/middleware_test.go",
        "middleware/throttle_test.go",
    ]
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("revise 'Options' documentation", {"docs/options.*": 0.7}),
        ("Document short option stacking behaviour", {"docs/options.*": 0.7}),
        ("Move Commands-and-Groups doc from reST to MyST", {"docs/commands-and-groups.*": 0.7}),
        (
            "Move Exceptions and Entry-points docs to MyST",
            {"docs/exceptions.*": 0.7, "docs/entry-points.*": 0.7},
        ),
        ("Link the API page", {"docs/api.*": 0.7}),  # one page in two formats
        ("Parametrize deprecation tests", {"tests/test_deprecations.py": 0.7}),
        ("Fix flaky Throttle middleware test", {"middleware/throttle_test.go": 0.7}),
    ],
)
def test_a_word_near_docs_or_tests_names_the_page(body: str, expected: dict[str, float]) -> None:
    assert dict(resolve_mentions(body, REPO)) == expected


@pytest.mark.parametrize(
    "body",
    [
        "Add more options to the parser",  # no word about docs or tests
        "Options are parsed twice.\nA docs build was slow.",  # not in the same line
        "Deprecation: options are parsed twice, which the old parser did too; tests to follow",
        "middleware tests pass",  # names the package: more than middleware_test.go
        "Fix a documentation typo",  # the trigger word itself names no page
    ],
)
def test_words_far_from_docs_or_tests_name_nothing(body: str) -> None:
    assert resolve_mentions(body, REPO) == []
