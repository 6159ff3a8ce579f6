"""How long past attempts took, read from the state store for learned estimates.

Kept apart from ``coordinator.io.store`` (which records runs) because only planning reads it,
and it must never create or change the store: ``plan`` and ``validate`` write nothing.
"""

from __future__ import annotations

from pathlib import Path

from coordinator.core.estimates import PastAttempt
from coordinator.errors import CoordinatorError
from coordinator.io.store import Store

PAST_ATTEMPTS = 20_000  # newest attempts ``past_attempts`` reads for learned estimates

_DONE_ATTEMPTS = (
    "SELECT a.task_id, t.agent, t.spec_digest, a.finished_at - a.started_at"
    " FROM attempts a JOIN tasks t USING (run_id, task_id)"
    " WHERE a.outcome = 'done' AND a.started_at IS NOT NULL AND a.finished_at IS NOT NULL"
    " ORDER BY a.finished_at DESC LIMIT ?"
)


def past_attempts(store: Store, limit: int = PAST_ATTEMPTS) -> list[PastAttempt]:
    """Successful attempts of every run, newest first, with their task's agent and digest.

    Only attempts whose agent reported done count: a crash or a timeout says how long a
    failure took, not how long the work takes.
    """
    rows = store.rows(_DONE_ATTEMPTS, (limit,))
    return [PastAttempt(row[0], row[1] or "", row[2] or "", float(row[3])) for row in rows]


def read_past_attempts(path: Path) -> list[PastAttempt]:
    """``past_attempts`` of the store at ``path``, or nothing when there is no store yet.

    Read-only and never creating the file. A store this version cannot read gives no history
    rather than stopping a plan.
    """
    if not path.is_file():
        return []
    try:
        with Store.open_readonly(path) as store:
            return past_attempts(store)
    except CoordinatorError:
        return []
