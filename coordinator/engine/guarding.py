"""The engine's side of guarding shared state: where it looks, and what it says and decides.

It looks at run start (the record), the moment the watcher sees a file change, when an agent
ends (its settle job, before its work is collected), before each merge (the merge job, before
the target moves) and at run end. Jobs look on their own threads and hand their findings back
in their results; the loop reports them here, loudly (event ``tampered``, repeated in the run's
summary), and fails a task a change was pinned on with reason ``tampered``: a running agent is
stopped at once, a finished one does not merge, and its dependents are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from coordinator.engine.context import RunContext, Timer
from coordinator.io.clones import Recorded, tampering
from coordinator.io.gitguard import DriverGuard
from coordinator.io.shared_state import Finding, SharedChanged, SharedState

Look = Callable[[], list[Finding]]


def start(ctx: RunContext) -> None:
    """Record the shared state as it is now (the filter and merge drivers defined now are the
    user's: every git command disables any other), and start watching its files."""
    if ctx.config.checkout == "sparse":
        ctx.repo.enable_worktree_config()  # what sparse checkouts would write: written first
    drivers = DriverGuard(ctx.repo)
    drivers.snapshot()
    ctx.repo.guard = drivers.overrides
    ctx.shared.snapshot()
    ctx.shared.watch(ctx.events)


def finish(ctx: RunContext) -> None:
    """Look one last time, once watching stopped, and report it (the final word on refs)."""
    try:
        report(ctx, look(ctx)())
    finally:
        ctx.repo.guard = None


def look(ctx: RunContext, task_id: str | None = None) -> Look:
    """A check for a job to run on its thread: the refs at rest are copied now, on the loop
    thread. With ``task_id`` the task stops counting as running once its check is done, and
    a task clone's own config, hooks and attributes are compared with how they were made."""
    at_rest = dict(ctx.at_rest)
    task_refs = ctx.task_refs
    shared, live = ctx.shared, ctx.live
    record = ctx.clone_records.get(task_id or "")
    clone = Path(ctx.book[task_id].worktree or "") if task_id and record is not None else None
    aside = shared.quarantine / ctx.run_id / f"clone-{task_id}"

    def run() -> list[Finding]:
        try:
            found = shared.check(at_rest, task_refs)
            if task_id is not None and clone is not None and record is not None:
                found += _own_repository(shared, task_id, clone, record, aside)
            return found
        finally:
            if task_id is not None:
                live.discard(task_id)

    return run


def _own_repository(shared: SharedState, task_id: str, clone: Path, record: Recorded,
                    aside: Path) -> list[Finding]:  # fmt: skip
    """A change to a task clone's config, hooks or attributes is always its agent's doing."""
    changed = tampering(clone, record, aside)
    if not changed:
        return []
    text = f"in its own repository {clone}: " + "; ".join(changed)
    shared.blame(task_id, text)
    kept = f" (the changed copies are in {aside})" if aside.exists() else ""
    return [Finding("clone", text + kept, False, (task_id,), task_id)]


def on_changed(ctx: RunContext, event: SharedChanged) -> None:
    report(ctx, event.findings)


def report(ctx: RunContext, findings: Sequence[Finding]) -> None:
    """Say what was found, and stop a running agent a change was pinned on."""
    for found in findings:
        if found.what == "user-refs":
            commands = "; ".join(found.commands)
            ctx.rec.emit("warning", None, f"{found.message}; to put it back: {commands}",
                         commands=list(found.commands))  # fmt: skip
            ctx.rec.notes.append(f"warning: {found.message}; to put it back: {commands}")
            continue
        running = ", ".join(found.suspects) or "none"
        blame = f"; the change is pinned on {found.blamed}" if found.blamed else ""
        undone = "UNDONE" if found.undone else "FOUND"
        text = (f"SHARED STATE CHANGED ({undone}): {found.message}; agents running then: "
                f"{running}{blame}")  # fmt: skip
        ctx.rec.emit("tampered", found.blamed, text, what=found.what,
                     suspects=list(found.suspects), undone=found.undone)  # fmt: skip
        ctx.rec.notes.append(text)
        task = ctx.book.tasks.get(found.blamed or "")
        if task is not None and task.agent_running:  # stopped now (``finishing.on_timer``)
            ctx.add_timer(time.time(), Timer("tampered", task.id, task.attempt))


def is_tampered(ctx: RunContext, task_id: str) -> bool:
    return bool(ctx.shared.blame_of(task_id))
