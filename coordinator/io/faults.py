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
    "agent-stopped",  # the settle job stopped the agent's processes, nothing collected yet
    "after-commit",
    "merge-queued",  # the task waits for the merge lane (state "merging")
    "between-commit-tree-and-update-ref",
    "after-update-ref",
    "after-branch-kept",  # an unmerged task's branch renamed, its end not recorded yet
    "gate-running",  # the merge gate's command runs (state "verifying", its pid stored)
    "queue-gates-judged",  # every gate of a queue round reported; nothing landed yet
    "queue-between-gate-and-update-ref",  # a round passed; the target not moved yet
    "queue-after-update-ref",  # the target moved over a round's passed groups, not recorded
    "queue-bisect-started",  # a round judged with a batch under bisection, nothing landed yet
    "queue-probe-running",  # a bisection probe's gate runs (its pid stored)
    "resolver-running",  # a resolver agent (then its gate) runs (state "resolving", pid stored)
    "resolution-between-gate-and-update-ref",  # a resolution passed its checks, not landed yet
    "resolution-after-update-ref",  # a resolution landed on the target, not recorded yet
    "pool-switched",  # a merged task's worktree moved to the target's head, not yet pooled
    "worktree-pooled",  # a merged task's worktree went back to the pool
    "pool-taken",  # a pooled worktree renamed for a new task, not switched yet
    # Only reached by a run that recovers a cut-off one:
    "after-recovery",  # the cut-off run reconciled, nothing handed over to the new run yet
    "run-handed-over",  # the new run recorded (with the finished tasks it adopts), no engine
    "adopting",  # an adopted task is being started (inside the store transaction)
)
RECOVERING = ("after-recovery", "run-handed-over", "adopting")

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
