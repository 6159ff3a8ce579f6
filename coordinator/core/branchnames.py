"""Which names may be the target branch: git's ref rules plus the coordinator's own.

Pure, and apart from the config model because ``--target`` and ``land --onto`` check names too.
"""

from __future__ import annotations

import re
from typing import Final

from coordinator.core.refs import RESERVED_BRANCH_PREFIXES

__all__ = ["BRANCH_FIX", "branch_problem"]

BRANCH_FIX: Final = "use a branch name such as coordinator/integration or agents/work"
_BRANCH_CHARS: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


def branch_problem(name: str) -> str | None:
    """Why ``name`` cannot be the target branch, or None when it can.

    Checked when the config or ``--target`` is read, so that ``validate`` and ``plan`` refuse
    what ``git branch`` would refuse halfway through ``run`` (``HEAD``, ``a/.b``, ``x.lock/y``),
    and so that a name is never read as an option (``-rf``) or a revision (``a@{1}``, ``a~1``).
    The character set is the one ``run`` has always accepted; the rest are git's ref rules.
    """
    parts = name.split("/")
    checks = (
        (not name, "is empty"),
        (not _BRANCH_CHARS.fullmatch(name), "may only use A-Z, a-z, 0-9, '.', '_', '-' and '/', "
                                            "starting with a letter or digit"),
        (".." in name, "contains '..'"),
        (any(not part for part in parts), "has an empty path component ('//' or a trailing '/')"),
        (any(part.startswith(".") for part in parts), "has a component starting with '.'"),
        (any(part.endswith(".lock") for part in parts), "has a component ending in '.lock'"),
        (name.endswith("."), "ends in '.'"),
        (name == "HEAD", "is reserved by git"),
        (name.startswith(RESERVED_BRANCH_PREFIXES), "is inside the coordinator's task branches"),
    )  # fmt: skip
    return next((reason for failed, reason in checks if failed), None)
