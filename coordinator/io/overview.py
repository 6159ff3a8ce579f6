"""Every task's state across runs: what landed (git), what was tried and how it ended (store).

``status`` shows one run; after ``run --only a`` that is one task. This is the other view: each
spec of the project, whatever run last touched it. Git decides what is merged or reverted (the
target's trailers, so a fresh clone knows too); the store adds how an unmerged task's latest
attempt ended, and where its branch and log are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from coordinator.core.models import TaskSpec
from coordinator.errors import CoordinatorError
from coordinator.io.gitrepo import GitRepo
from coordinator.io.history import task_history
from coordinator.io.runfiles import store_path
from coordinator.io.store import Store, TaskRecord

MERGED = "merged"
CHANGED = "changed"  # merged, but its spec changed since: the daemon runs it again
REVERTED = "reverted"
NEVER_RUN = "never-run"
DROPPED = "dropped"  # a run merged it, but the target no longer holds that merge
# In the order the summary line counts them.
ORDER = (MERGED, CHANGED, REVERTED, "failed", "conflict", "cancelled", "skipped", "running",
         "pending", "done", DROPPED, NEVER_RUN)  # fmt: skip


@dataclass(frozen=True)
class TaskView:
    """One spec's state across runs; the keys of ``tasks --json``."""

    id: str
    agent: str
    spec: str
    state: str
    commit: str | None  # the merge (or revert) commit on the target
    run_id: str | None  # the run that last tried it
    branch: str | None  # where its unmerged work is kept
    log: str | None
    reason: str | None
    spec_digest: str
    landed_digest: str | None  # the digest in the merge's Coordinator-Spec-Digest trailer
    changed_since_landed: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def task_overview(repo: GitRepo, specs: Sequence[TaskSpec], target: str) -> list[TaskView]:
    """Each spec's state on ``target``, in spec order."""
    history = task_history(repo, target)
    tried = _latest_tries(repo.git_dir, target)
    views = []
    for spec in specs:
        record = history.get(spec.id)
        latest = tried.get(spec.id)
        changed = bool(
            record is not None and record.digest and spec.digest and record.digest != spec.digest
        )
        if record is not None:
            state = REVERTED if record.reverted else (CHANGED if changed else MERGED)
        elif latest is None:
            state = NEVER_RUN
        elif latest.state == MERGED:
            state = DROPPED
        else:
            state = latest.state
        unmerged = record is None and latest is not None
        views.append(
            TaskView(
                id=spec.id,
                agent=spec.agent,
                spec=spec.source,
                state=state,
                commit=record.commit if record is not None else None,
                run_id=latest.run_id if latest is not None else None,
                branch=latest.branch if unmerged and latest is not None else None,
                log=latest.log if unmerged and latest is not None else None,
                reason=(latest.reason or None) if unmerged and latest is not None else None,
                spec_digest=spec.digest,
                landed_digest=record.digest if record is not None else None,
                changed_since_landed=changed,
            )
        )
    return views


def counts(views: Sequence[TaskView]) -> dict[str, int]:
    """How many tasks are in each state, in ``ORDER`` (states with none left out)."""
    found: dict[str, int] = {}
    for view in views:
        found[view.state] = found.get(view.state, 0) + 1
    ordered = {state: found.pop(state) for state in ORDER if state in found}
    return {**ordered, **dict(sorted(found.items()))}


def _latest_tries(git_dir: Path, target: str) -> dict[str, TaskRecord]:
    """Per task, its newest record in a run on ``target`` (a run on another target says
    nothing about this one)."""
    db = store_path(git_dir)
    if not db.exists():
        return {}
    try:
        with Store.open_readonly(db) as store:
            latest: dict[str, TaskRecord] = {}
            for run_id in reversed(store.run_ids()):
                run = store.run(run_id)
                if run is None or run.target != target:
                    continue
                for task in store.tasks(run_id):
                    latest.setdefault(task.task_id, task)
            return latest
    except CoordinatorError:
        return {}
