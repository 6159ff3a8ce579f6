"""Small wording helpers, so every line the tool prints reads right for one thing or many."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """``plural(1, "task")`` -> ``"1 task"``, ``plural(3, "task")`` -> ``"3 tasks"``."""
    return f"{count} {word if count == 1 else (many or word + 's')}"
