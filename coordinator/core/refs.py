"""Every branch name the coordinator makes, built in one place.

The coordinator writes only under ``refs/heads/coordinator/``: ``clean`` finds what it may
remove by these prefixes, a run reports refs moved *outside* them as someone else's doing, and
the config refuses a target inside the ones the engine renames branches into. Spelling a name
in two modules would let those rules drift apart, so every module asks this one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

PREFIX: Final = "coordinator/"
HEADS: Final = "refs/heads/"
# A running task's branch is this prefix plus its id.
TASK_BRANCH_PREFIX: Final = PREFIX + "task/"
DEFAULT_TARGET: Final = PREFIX + "integration"
# An earlier task branch found in the way of a new attempt is renamed under this prefix.
OLD_PREFIX: Final = PREFIX + "old/"
# A commit only an agent's detached HEAD held is kept under this prefix.
RECOVERED_PREFIX: Final = PREFIX + "recovered/"
# The outcomes a task branch is renamed after when its work does not land.
KEPT_STATES: Final = ("failed", "conflict", "cancelled", "skipped", "interrupted")
KEPT_PREFIXES: Final = (*(f"{PREFIX}{state}/" for state in KEPT_STATES), OLD_PREFIX,
                        RECOVERED_PREFIX)  # fmt: skip
# The target may not be one of the engine's own branches, nor inside them.
RESERVED_BRANCH_PREFIXES: Final = (TASK_BRANCH_PREFIX, PREFIX + "failed/",
                                   PREFIX + "conflict/", OLD_PREFIX)  # fmt: skip
# Full ref names under which every ref the coordinator writes lives.
OUR_REFS: Final = (HEADS + PREFIX,)


def branch_ref(name: str) -> str:
    """The full ref name of branch ``name`` (what ``update-ref`` needs)."""
    return HEADS + name


def short_name(ref: str) -> str:
    """``refs/heads/x`` as ``x``; anything else as it is."""
    return ref.removeprefix(HEADS)


def task_branch(task_id: str) -> str:
    return TASK_BRANCH_PREFIX + task_id


def task_of_branch(branch: str) -> str:
    """The task id of a task branch name (``coordinator/task/<id>``)."""
    return branch.removeprefix(TASK_BRANCH_PREFIX)


def kept_branch(kind: str, run_id: str, task_id: str, n: int = 1) -> str:
    """``coordinator/<kind>/<run>/<id>``: where a task branch goes when its work does not land
    (``kind`` is one of ``KEPT_STATES`` or ``old``); ``n`` > 1 when that name is taken."""
    run = run_id if n == 1 else f"{run_id}-{n}"
    return f"{PREFIX}{kind}/{run}/{task_id}"


def recovered_branch(branch: str, n: int = 1) -> str:
    """``coordinator/recovered/<task>[-n]`` for a commit found beside task branch ``branch``."""
    stem = RECOVERED_PREFIX + task_of_branch(branch).replace("/", "-")
    return stem if n == 1 else f"{stem}-{n}"


def first_free(name: Callable[[int], str], taken: Callable[[str], bool]) -> str:
    """``name(1)``, or ``name(2)``... the first one ``taken`` says is free."""
    n = 1
    while taken(name(n)):
        n += 1
    return name(n)
