"""Small wording helpers, so every line the tool prints reads right for one thing or many."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """``plural(1, "task")`` -> ``"1 task"``, ``plural(3, "task")`` -> ``"3 tasks"``."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def every(count: int, word: str = "task") -> str:
    """``"all 3 tasks are"``, or ``"the 1 task is"``: the start of a sentence about all of them."""
    return f"the 1 {word} is" if count == 1 else f"all {count} {word}s are"
