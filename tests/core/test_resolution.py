"""The resolver's rules: markers left, changes beyond the conflicts, and its prompt."""

from __future__ import annotations

from coordinator.core.resolution import (
    SpecText,
    has_conflict_markers,
    resolver_prompt,
    undeclared_changes,
)


def test_conflict_markers_are_found_but_a_heading_underline_is_not() -> None:
    assert has_conflict_markers("a\n<<<<<<< ours\nx\n=======\ny\n>>>>>>> theirs\n")
    assert has_conflict_markers("a\n>>>>>>>\n")
    assert has_conflict_markers("||||||| base\n")
    assert not has_conflict_markers("Changes\n=======\n\n- one\n")
    assert not has_conflict_markers("text <<<<<<< inside a line\n")


def test_changes_beyond_the_conflicts_must_be_declared() -> None:
    assert undeclared_changes(["a", "b", "c"], {"a"}, {"b"}) == ["c"]
    assert undeclared_changes(["a"], {"a"}, ()) == []


def test_the_prompt_names_the_paths_and_both_sides_specs() -> None:
    text = resolver_prompt(
        SpecText("t2", "Second", "Edit line 2."),
        [SpecText("t1", "First", "Edit line 1.")],
        ["notes.txt", "src/a.py"],
    )
    assert "- notes.txt\n- src/a.py" in text
    assert "t2: Second" in text and "Edit line 2." in text
    assert "### t1: First" in text and "Edit line 1." in text
