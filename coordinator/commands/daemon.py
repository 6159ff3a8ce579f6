"""Unattended runs: ``daemon --once`` for cron, and ``daemon`` that watches the specs directory.

A cycle is a ``run`` with the daemon's rule: tasks that are new, and tasks whose spec changed
since it last landed (the ``Coordinator-Spec-Digest`` trailer of its merge says which spec
landed). A task the daemon already tried with this very spec and that failed (or conflicted)
waits for its spec to change, or for ``coordinator run --only ID``: cron must not burn an
agent's time on the same failure every quarter of an hour. Every cycle appends its summary to
``.git/coordinator/daemon.log``, leaves the last one in ``daemon-last.json`` and in the store
(``status --json`` shows it as ``"daemon"``), and may hand it to a notify command. Watch mode
is ``coordinator.commands.daemon_watch``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coordinator.commands.status import DAEMON_KEY as LAST_CYCLE_KEY
from coordinator.core.models import TaskSpec
from coordinator.engine.runner import RunRequest, RunResult, run
from coordinator.errors import EXIT_OK, CoordinatorError
from coordinator.io import processes
from coordinator.io.agents import LAUNCH_FAILED
from coordinator.io.gitrepo import GitRepo
from coordinator.io.history import task_history, up_to_date
from coordinator.io.lock import RepoLock
from coordinator.io.runfiles import lock_path, state_dir, store_path
from coordinator.io.store import Store, iso_ms
from coordinator.project import load_project, read_config
from coordinator.report import prune_reports
from coordinator.ui.display import Reporter, RunSummary

LOG_NAME = "daemon.log"
LAST_NAME = "daemon-last.json"
NOTIFY_TIMEOUT = 60.0
# Latest states that mean "the daemon tried this spec and it did not land": not retried unasked.
HELD_STATES = frozenset({"failed", "conflict"})


@dataclass(frozen=True)
class Selection:
    """What one cycle will do, decided before any agent starts."""

    to_run: tuple[str, ...]
    up_to_date: tuple[str, ...]
    held: tuple[str, ...]  # failed with the current spec: waits for a spec change
    blocked: tuple[str, ...]  # depends on a held task
    target: str
    notify: tuple[str, ...] = ()  # [daemon] notify, as the config said when the cycle began


def select_tasks(path: Path, git_dir: Path) -> Selection:
    """The daemon's rule, from git (what landed, with which spec) and the store (what failed)."""
    project = load_project(path)
    target = project.config.target
    digests = {s.id: s.digest for s in project.specs}
    with GitRepo.discover(path) as repo:
        fresh = up_to_date(task_history(repo, target), digests)
    held = _held(git_dir, digests, fresh)
    blocked = _blocked(project.specs, fresh, held)
    order = [s.id for s in project.specs]
    return Selection(
        to_run=tuple(i for i in order if i not in fresh and i not in held and i not in blocked),
        up_to_date=tuple(i for i in order if i in fresh),
        held=tuple(i for i in order if i in held),
        blocked=tuple(i for i in order if i in blocked),
        target=target,
        notify=tuple(project.config.daemon.notify or ()),
    )


def _held(git_dir: Path, digests: dict[str, str], fresh: set[str]) -> set[str]:
    """Unlanded tasks whose latest recorded attempt, with the spec as it is now, failed.

    An agent that could not even be started (a program missing, since installed) did not fail
    the task: such a task is tried again next cycle."""
    db = store_path(git_dir)
    if not db.exists():
        return set()
    try:
        with Store.open_readonly(db) as store:
            latest = store.latest_task_records()
    except CoordinatorError:
        return set()  # no run recorded yet: nothing was tried
    return {
        task_id
        for task_id, record in latest.items()
        if task_id in digests
        and task_id not in fresh
        and record.state in HELD_STATES
        and not (record.reason or "").startswith(LAUNCH_FAILED)
        and record.spec_digest
        and record.spec_digest == digests[task_id]
    }


def _blocked(specs: Sequence[TaskSpec], fresh: set[str], held: set[str]) -> set[str]:
    """Tasks that would need a held task to run again first (transitively)."""
    by_id = {s.id: s for s in specs}
    blocked: set[str] = set()
    changed = True
    while changed:
        changed = False
        for spec in specs:
            if spec.id in fresh or spec.id in held or spec.id in blocked:
                continue
            if any(d in by_id and (d in held or d in blocked) for d in spec.depends_on):
                blocked.add(spec.id)
                changed = True
    return blocked


def cycle(path: Path | None, reporter: Reporter, *, lock: RepoLock | None = None) -> RunResult:
    """One daemon cycle: take the lock first, run what is new or changed, record, notify.

    The lock comes before anything else (even reading specs), so an overlapping cron cycle
    exits 75 at once whatever state the repository is in. ``lock`` is passed by the watching
    daemon, which holds it for its whole life.
    """
    with GitRepo.discover(path or Path.cwd()) as repo:
        root, git_dir = repo.root, repo.git_dir
    holding = lock or RepoLock(lock_path(git_dir), "daemon").acquire()
    try:
        return _cycle_locked(root, git_dir, reporter, holding)
    finally:
        if lock is None:
            holding.release()


def _cycle_locked(root: Path, git_dir: Path, reporter: Reporter, lock: RepoLock) -> RunResult:
    started = time.time()
    selection: Selection | None = None
    try:
        selection = select_tasks(root, git_dir)
        if selection.to_run:
            request = RunRequest(path=root, only=selection.to_run, changed_only=True, report=True)
            result = run(request, reporter, lock=lock)
            prune_reports(git_dir)
            if selection.held and not result.message:
                note = "not run: " + _waiting_note(selection)
                result = RunResult(result.exit_code, note, result.summary, result.report)
        else:
            result = RunResult(EXIT_OK, _nothing_to_do(selection, started))
    except CoordinatorError as exc:
        record = _base_record(started, exc.exit_code, str(exc), selection)
        record["error"] = str(exc)
        repeated = _last_error(git_dir) == record["error"]
        _record(git_dir, record)
        notify = selection.notify if selection is not None else _configured_notify(root)
        if notify and not repeated:  # a cycle stuck on the same error says so once
            _notify(list(notify), record, root)
        raise
    record = _base_record(started, result.exit_code, result.message, selection)
    if result.summary is not None:
        record.update(result.summary.as_dict())
        record["landed"] = _landed(git_dir, result.summary)
        record["report"] = str(result.report) if result.report else None
    _record(git_dir, record)
    counts = record.get("counts", {})
    acted = any(counts.get(k, 0) for k in ("merged", "failed", "conflict", "skipped"))
    if selection.notify and acted:
        _notify(list(selection.notify), record, root)
    return result


def _nothing_to_do(selection: Selection, now: float) -> str:
    """The one line a quiet cron cycle prints; it names what waits for the user, if anything."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    count = len(selection.up_to_date)
    line = (
        f"nothing to do at {stamp}: {count} task{'' if count == 1 else 's'} up to date "
        f"on {selection.target}"
    )
    if selection.held:
        line += "; " + _waiting_note(selection)
    return line


def _waiting_note(selection: Selection) -> str:
    """Which tasks the daemon holds back, and how the user gets them to run."""
    note = (
        f"{len(selection.held)} failed with their current spec and wait for a spec change "
        f"or `coordinator run --only`: {', '.join(selection.held)}"
    )
    if selection.blocked:
        note += f"; waiting on them: {', '.join(selection.blocked)}"
    return note


def _base_record(
    started: float, exit_code: int, message: str, selection: Selection | None
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "started_at": iso_ms(started),
        "finished_at": iso_ms(time.time()),
        "exit_code": exit_code,
        "message": message,
        "counts": {},
        "landed": [],
    }
    if selection is not None:
        record["target"] = selection.target
        record["selected"] = list(selection.to_run)
        record["held"] = list(selection.held)
        record["blocked"] = list(selection.blocked)
    return record


def _landed(git_dir: Path, summary: RunSummary) -> list[dict[str, Any]]:
    """Which tasks this cycle merged, and as which commit: what a notification wants to say."""
    try:
        with Store.open_readonly(store_path(git_dir)) as store:
            tasks = store.tasks(summary.run_id)
    except CoordinatorError:
        return []
    return [
        {"id": t.task_id, "merge_commit": t.merge_commit, "summary": t.summary or ""}
        for t in tasks
        if t.state == "merged"
    ]


def _record(git_dir: Path, record: dict[str, Any]) -> None:
    """Append to the log, replace the last-cycle file and the store's copy.

    A record that cannot be written is said on stderr but does not change the cycle's exit
    code: the run's outcome is already in git and in the store's run records.
    """
    try:
        _write_record(git_dir, record)
    except (OSError, CoordinatorError) as exc:
        print(f"warning: could not record the daemon cycle: {exc}", file=sys.stderr)


def _write_record(git_dir: Path, record: dict[str, Any]) -> None:
    directory = state_dir(git_dir)
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, default=str)
    with (directory / LOG_NAME).open("a", encoding="utf-8") as fh:
        fh.write(text + "\n")
    tmp = directory / f".{LAST_NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, directory / LAST_NAME)
    with Store(store_path(git_dir)) as store:
        store.set_meta(LAST_CYCLE_KEY, text)


def _last_error(git_dir: Path) -> str | None:
    try:
        last = json.loads((state_dir(git_dir) / LAST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    error = last.get("error") if isinstance(last, dict) else None
    return error if isinstance(error, str) else None


def _configured_notify(root: Path) -> Sequence[str] | None:
    """The notify command when the config still reads (the specs may be what is broken)."""
    try:
        config, _ = read_config(root)
    except CoordinatorError:
        return None
    return config.daemon.notify


def _notify(argv: list[str], record: dict[str, Any], cwd: Path) -> None:
    """The notify command gets the summary JSON on stdin; its failure never fails the cycle,
    but it is said on stderr (the cron log) so a broken notifier does not go unseen."""
    data = json.dumps(record, default=str).encode()
    result = processes.run(argv, input=data, cwd=cwd, timeout=NOTIFY_TIMEOUT)
    if result.error:
        print(f"warning: notify command {argv[0]!r} failed: {result.error}", file=sys.stderr)
    elif result.returncode != 0:
        said = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
        tail = said.splitlines()[-1:] or [""]
        print(
            f"warning: notify command {argv[0]!r} exited {result.returncode}: {tail[0]}",
            file=sys.stderr,
        )
