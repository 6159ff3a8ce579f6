"""Test-only fault injection: SIGKILL the coordinator at a named point.

``COORDINATOR_FAULT=<point>[:<n>]`` kills the process the n-th time (default first) execution
reaches ``crash_point(<point>)``. Crash-safety tests use it to prove that a run cut off anywhere
resumes without losing or duplicating work. Unset (always, outside tests) it costs one dict
lookup.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "after-worktree-add",
    "agent-started",
    "agent-running",
    "after-marker-seen",
    "after-commit",
    "between-commit-tree-and-update-ref",
    "after-update-ref",
    "worktree-pooled",
    "pool-taken",
)

_counts: dict[str, int] = {}


def crash_point(point: str) -> None:
    spec = os.environ.get("COORDINATOR_FAULT")
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != point:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
