"""What the target branch says happened: task merges and reverts, read from trailers.

Git is the record of what landed; the store only adds detail. Reading trailers (not the store)
means a fresh clone, or a store that was lost, still knows which tasks are done.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordinator.core.refs import branch_ref
from coordinator.io.gitrepo import GitRepo
from coordinator.io.merger import TRAILER_TASK

TRAILER_DIGEST = "Coordinator-Spec-Digest"
TRAILER_REVERT = "Coordinator-Revert"


@dataclass(frozen=True)
class TaskRecord:
    """The latest thing the target's history says about one task."""

    task_id: str
    commit: str  # the merge commit (or the revert commit when reverted)
    digest: str | None
    reverted: bool


def task_history(repo: GitRepo, target: str) -> dict[str, TaskRecord]:
    """Per task id, its latest merge or revert on ``target``'s first-parent history."""
    ref = branch_ref(target)
    if repo.rev_parse(ref) is None:
        return {}
    records: dict[str, TaskRecord] = {}
    # git skips the commits without either trailer; newest first: the first record per id wins
    grep = (f"^{TRAILER_TASK}:", f"^{TRAILER_REVERT}:")
    for info in repo.first_parent_log(ref, grep=grep):
        reverted_id = info.trailers.get(TRAILER_REVERT)
        if reverted_id and reverted_id not in records:
            records[reverted_id] = TaskRecord(
                reverted_id, info.sha, info.trailers.get(TRAILER_DIGEST), reverted=True
            )
            continue
        task_id = info.trailers.get(TRAILER_TASK)
        if task_id and len(info.parents) >= 2 and task_id not in records:
            records[task_id] = TaskRecord(
                task_id, info.sha, info.trailers.get(TRAILER_DIGEST), reverted=False
            )
    return records


def merged_ids(records: dict[str, TaskRecord]) -> dict[str, str]:
    """Tasks whose latest record is a merge: what ``run`` skips."""
    return {k: r.commit for k, r in records.items() if not r.reverted}


def up_to_date(records: dict[str, TaskRecord], digests: dict[str, str]) -> set[str]:
    """Tasks the daemon leaves alone: landed, or reverted, with the spec as it is now.

    A reverted task stays reverted until its spec changes: the revert carries the digest of
    the merge it undid. A merge or revert without a digest (made by hand, or by an older
    version) counts as up to date, so the daemon never reruns work it cannot compare.
    """
    fresh = set()
    for task_id, digest in digests.items():
        record = records.get(task_id)
        if record is not None and (record.digest is None or record.digest == digest):
            fresh.add(task_id)
    return fresh
