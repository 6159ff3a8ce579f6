"""Landing finished task branches on the target branch, one merge at a time, with no checkout.

Why plumbing: ``merge-tree --write-tree`` computes the merge in the object store,
``commit-tree`` writes the merge commit and ``update-ref`` moves the target by compare-and-swap.
No index, working tree or HEAD is involved, so the user's checkout (with its uncommitted
changes) cannot be disturbed, and a target someone moved meanwhile is reported as ``moved``
instead of being overwritten. Every task lands as a two-parent ``--no-ff``-style merge whose
trailers say which task it was, so ``review`` and resuming a run read history from git alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from coordinator.core.config import Identity
from coordinator.core.refs import short_name
from coordinator.errors import CoordinatorError, GitError
from coordinator.io.faults import crash_point
from coordinator.io.gitrepo import GitRepo

TRAILER_TASK = "Coordinator-Task"
TRAILER_AGENT = "Coordinator-Agent"
TRAILER_RUN = "Coordinator-Run"
TRAILER_VIOLATIONS = "Coordinator-Footprint-Violations"
# The merge body's line with the agent's summary, which ``review`` reads back without the store.
SUMMARY_PREFIX = "Agent summary: "
TITLE_LIMIT = 200
_TRAILER_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")


@dataclass(frozen=True, slots=True)
class MergeOutcome:
    """``merged`` (``commit`` is the new target head), ``conflict`` (target untouched,
    ``conflicts`` names the paths), ``moved`` (the target changed under us; nothing landed) or
    ``rejected`` (the merge gate said no: ``reason``; target untouched)."""

    status: Literal["merged", "conflict", "moved", "rejected"]
    commit: str | None
    conflicts: tuple[str, ...] = ()
    reason: str = ""


def one_line(text: str) -> str:
    """``text`` as a single line: whitespace runs become one space, control characters go."""
    return " ".join("".join(ch for ch in part if ch.isprintable()) for part in text.split())


def build_merge_message(
    task_id: str,
    title: str,
    agent: str,
    run_id: str,
    violations: Sequence[str],
    extra_trailers: Mapping[str, str] | None = None,
    *,
    body: str = "",
) -> str:
    """``Merge task <id>: <title>``, a blank line, the optional body, then the trailers.

    The trailers form the last paragraph, which is exactly what ``git interpret-trailers``
    and ``%(trailers)`` parse. Values are forced onto one line so a title or path can never
    forge a trailer. Violations are joined with ``", "`` (a path containing ", " would read
    back as two paths).
    """
    subject = one_line(title) or task_id
    if len(subject) > TITLE_LIMIT:
        subject = subject[: TITLE_LIMIT - 1].rstrip() + "…"
    trailers = {TRAILER_TASK: task_id, TRAILER_AGENT: agent, TRAILER_RUN: run_id}
    if violations:
        trailers[TRAILER_VIOLATIONS] = ", ".join(one_line(v) for v in violations)
    for key, value in (extra_trailers or {}).items():
        if not _TRAILER_KEY.match(key) or key in trailers:
            raise ValueError(f"{key!r} cannot be an extra trailer key")
        trailers[key] = value
    lines = [f"Merge task {one_line(task_id)}: {subject}", ""]
    if body.strip():
        lines += [body.strip(), ""]
    lines += [f"{key}: {one_line(value)}" for key, value in trailers.items()]
    return "\n".join(lines) + "\n"


def merge_task(
    repo: GitRepo,
    target_ref: str,
    task_head: str,
    message: str,
    identity: Identity,
    *,
    gate: Callable[[str], str | None] | None = None,
    expected: str | None = None,
    move: Callable[[str, str, str, Identity], bool] | None = None,
    attributes: Path | None = None,
) -> MergeOutcome:
    """Merge ``task_head`` into ``target_ref`` (a full ``refs/heads/...`` name).

    Always a two-parent commit ``[old target, task_head]``, even when the task changed nothing
    or ``task_head`` is the target itself: then its tree equals its first parent's, and the
    task still visibly lands. Refuses (``CoordinatorError``) while any checkout, the user's
    included, has the target branch checked out: moving a branch under a checkout would make
    its files look like reverted changes. Callers should check ``worktree_list`` up front too.

    ``gate`` (the merge gate) sees the merge commit before the target moves; a reason string
    back means "do not land": the outcome is ``rejected`` and the target stays where it was.
    ``expected`` is what the target must hold (the value the caller last wrote: the merge is
    built on it, never on what someone else put there) and ``move(new, old, message,
    identity)`` the compare-and-swap that moves it (default: ``update_ref``).
    """
    branch = short_name(target_ref)
    holder = repo.checked_out_at(branch)
    if holder is not None:
        raise CoordinatorError(
            f"refusing to merge into {branch}: it is checked out in {holder} (switch that "
            "checkout to another branch, or choose another target)"
        )
    old = expected or repo.rev_parse(target_ref)
    if old is None:
        raise GitError(f"the merge target {target_ref} does not exist")
    result = repo.merge_tree(old, task_head, attributes=attributes)
    if result.tree is None:
        return MergeOutcome("conflict", None, result.conflicts)
    commit = repo.commit_tree(result.tree, [old, task_head], message, identity)
    if gate is not None and (reason := gate(commit)) is not None:
        return MergeOutcome("rejected", commit, (), reason)
    crash_point("between-commit-tree-and-update-ref")
    subject = message.partition("\n")[0]
    swap = move or (lambda new, was, text, who: repo.update_ref(
        target_ref, new, was, message=text, identity=who))  # fmt: skip
    moved = not swap(commit, old, f"coordinator: {subject}", identity)
    if not moved:
        crash_point("after-update-ref")
    return MergeOutcome("moved", None) if moved else MergeOutcome("merged", commit)
