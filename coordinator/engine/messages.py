"""A task's merge commit message, shared by the merge lane, the queue and the resolver."""

from __future__ import annotations

from collections.abc import Sequence

from coordinator.engine.book import NO_CHANGES
from coordinator.engine.context import RunContext
from coordinator.io.history import TRAILER_DIGEST
from coordinator.io.merger import SUMMARY_PREFIX, build_merge_message


def merge_message(ctx: RunContext, task_id: str, extra: dict[str, str] | None = None) -> str:
    """The task's merge commit message: title, the agent's summary, the trailers (``extra``
    ones last, such as the resolver's)."""
    task = ctx.plan.task(task_id)
    run = ctx.book[task_id]
    trailers = {TRAILER_DIGEST: task.spec.digest} if task.spec.digest else {}
    return build_merge_message(
        task_id, task.spec.title or task_id, task.agent, ctx.run_id, run.violations,
        {**trailers, **(extra or {})},
        body=merge_body(run.summary, run.changed_files),
    )  # fmt: skip


def merge_body(summary: str, changed: Sequence[str]) -> str:
    """The merge commit's body: the agent's summary, and a note when nothing changed, so that
    a clone without the coordinator's store still tells the whole story."""
    parts = []
    if summary := summary.strip():
        parts.append(SUMMARY_PREFIX + summary)
    if not changed:
        parts.append(f"The task landed with {NO_CHANGES}: its agent changed no files.")
    return "\n\n".join(parts)
