"""What a conflict resolver is told, and what its result must satisfy before it may land.

``on_conflict = "resolve"`` hands a conflicted merge to an agent. These rules are pure so they
can be read in one place and tested without git: the prompt it gets, whether a file still
holds conflict markers, and which of its changes go beyond what it was asked to touch.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

# Only the lines that open and close a conflict (and diff3's base section) count: a line of
# "=======" alone is also a reStructuredText heading underline, so it proves nothing.
MARKER_PREFIXES = ("<<<<<<< ", ">>>>>>> ", "||||||| ")
MARKER_LINES = ("<<<<<<<", ">>>>>>>", "|||||||")


@dataclass(frozen=True)
class SpecText:
    """One task as the resolver reads about it."""

    id: str
    title: str
    body: str


def has_conflict_markers(text: str) -> bool:
    """True when ``text`` still holds a line that opens, splits (diff3) or closes a conflict."""
    return any(
        line.startswith(MARKER_PREFIXES) or line.rstrip("\r") in MARKER_LINES
        for line in text.splitlines()
    )


def undeclared_changes(
    changed: Sequence[str], conflicts: Collection[str], declared: Collection[str]
) -> list[str]:
    """The paths the resolver changed that it was neither asked to resolve nor declared."""
    allowed = {*conflicts, *declared}
    return [path for path in changed if path not in allowed]


def resolver_prompt(task: SpecText, merged: Sequence[SpecText], conflicts: Sequence[str]) -> str:
    """The resolver's prompt: what to do, the conflicting paths, and both sides' specs."""
    lines = [
        f"# Resolve the merge conflict of task {task.id}",
        "",
        "This worktree holds a merge in progress: the task's branch merged into the current "
        "target. The files below contain conflict markers (<<<<<<< ======= >>>>>>>). Edit "
        "them so that both sides' intent is kept and no marker is left. Change only these "
        "files (or list any other file you must change in your completion marker's "
        '"files"); do not commit: the coordinator commits the merge.',
        "",
        "## Conflicting paths",
        "",
        *(f"- {path}" for path in conflicts),
        "",
        f"## The task being merged: {task.id}: {task.title}",
        "",
        task.body.strip(),
        "",
    ]
    if merged:
        lines += ["## Already merged tasks that touched these paths", ""]
        for other in merged:
            lines += [f"### {other.id}: {other.title}", "", other.body.strip(), ""]
    return "\n".join(lines)
