"""What the state store holds: its schema, its typed records and the ``status`` JSON shape.

Split from ``coordinator.io.store`` (the connection, transactions and queries), which
re-exports these names. ``status_document`` builds the documented ``status --json`` object;
its keys are a promise to users' scripts: new keys may be added, none renamed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from coordinator.core.models import TaskState
from coordinator.core.usage import Resources, resources_from_dict, total_usage, usage_from_dict
from coordinator.errors import EXIT_BAD_INPUT, CoordinatorError

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 0 -> 1
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY, state TEXT NOT NULL, started_at REAL NOT NULL,
            finished_at REAL, target TEXT NOT NULL, base TEXT NOT NULL,
            instances INTEGER NOT NULL, options TEXT NOT NULL DEFAULT '{}', summary TEXT)""",
        """CREATE TABLE tasks (
            run_id TEXT NOT NULL REFERENCES runs(run_id), task_id TEXT NOT NULL,
            position INTEGER NOT NULL, agent TEXT, state TEXT NOT NULL DEFAULT 'pending',
            attempt INTEGER NOT NULL DEFAULT 0, started_at REAL, finished_at REAL,
            merged_at REAL, branch TEXT, worktree TEXT, base TEXT, merge_commit TEXT,
            predicted_files TEXT NOT NULL DEFAULT '[]', changed_files TEXT NOT NULL DEFAULT '[]',
            violations TEXT NOT NULL DEFAULT '[]', log TEXT, reason TEXT, summary TEXT,
            pid INTEGER, pid_create_time REAL, spec_digest TEXT,
            PRIMARY KEY (run_id, task_id))""",
        "CREATE INDEX tasks_by_task ON tasks (task_id)",
        """CREATE TABLE attempts (
            run_id TEXT NOT NULL REFERENCES runs(run_id), task_id TEXT NOT NULL,
            attempt INTEGER NOT NULL, started_at REAL, finished_at REAL, outcome TEXT,
            reason TEXT, branch TEXT, base TEXT, PRIMARY KEY (run_id, task_id, attempt))""",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(run_id),
            task_id TEXT, at REAL NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL DEFAULT '{}')""",
        "CREATE INDEX events_by_run ON events (run_id, id)",
    ),
    (  # 1 -> 2: slots and ports, what each attempt used, files placed into worktrees
        "ALTER TABLE tasks ADD COLUMN slot INTEGER",
        "ALTER TABLE tasks ADD COLUMN port INTEGER",
        "ALTER TABLE tasks ADD COLUMN usage TEXT",
        "ALTER TABLE tasks ADD COLUMN resources TEXT",
        "ALTER TABLE tasks ADD COLUMN placed TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE attempts ADD COLUMN slot INTEGER",
        "ALTER TABLE attempts ADD COLUMN log TEXT",
        "ALTER TABLE attempts ADD COLUMN usage TEXT",
        "ALTER TABLE attempts ADD COLUMN resources TEXT",
    ),
    ("ALTER TABLE tasks ADD COLUMN node TEXT",),  # 2 -> 3: the Ray node a task runs on
)
SCHEMA_VERSION = len(_MIGRATIONS)

# The columns ``upsert_task`` may set, with their kind. Keys are checked against this table
# before any SQL is built, so a caller's keyword can never become SQL text.
_TEXT, _INT, _REAL, _JSON, _OBJECT = "text", "int", "real", "json", "object"
TASK_COLUMNS: Mapping[str, str] = {
    "agent": _TEXT,
    "state": _TEXT,
    "attempt": _INT,
    "started_at": _REAL,
    "finished_at": _REAL,
    "merged_at": _REAL,
    "branch": _TEXT,
    "worktree": _TEXT,
    "base": _TEXT,
    "merge_commit": _TEXT,
    "predicted_files": _JSON,
    "changed_files": _JSON,
    "violations": _JSON,
    "log": _TEXT,
    "reason": _TEXT,
    "summary": _TEXT,
    "pid": _INT,
    "pid_create_time": _REAL,
    "spec_digest": _TEXT,
    "slot": _INT,
    "port": _INT,
    "usage": _OBJECT,
    "resources": _OBJECT,
    "placed": _JSON,
    "node": _TEXT,
}
_TASK_STATES = frozenset(state.value for state in TaskState)


class NoRunsError(CoordinatorError):
    """Nothing to show: the store does not exist or holds no run yet (exit 1, not a crash)."""

    exit_code = 1

    @classmethod
    def at(cls, path: Path) -> NoRunsError:
        """The error for the store at ``path``, naming the repository when it can tell."""
        if path.parent.name == "coordinator" and path.parent.parent.name == ".git":
            path = path.parent.parent.parent  # <repo>/.git/coordinator/state.db
        return cls(f"no runs recorded yet in {path}; run `coordinator run` first")


class UnknownRunError(CoordinatorError):
    """The user asked for a run id the store has never recorded."""

    exit_code = EXIT_BAD_INPUT


def iso_ms(epoch: float | None) -> str | None:
    """``1795428285.1234`` -> ``"2026-11-23T10:04:45.123Z"``; ``None`` stays ``None``."""
    if epoch is None:
        return None
    stamp = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One row of ``runs``: typed, so callers never index raw rows by column name."""

    run_id: str
    state: str
    started_at: float
    finished_at: float | None
    target: str
    base: str
    instances: int
    options: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One row of ``tasks``; JSON columns come back as lists."""

    run_id: str
    task_id: str
    agent: str | None
    state: str
    attempt: int
    started_at: float | None
    finished_at: float | None
    merged_at: float | None
    branch: str | None
    worktree: str | None
    base: str | None
    merge_commit: str | None
    predicted_files: list[str]
    changed_files: list[str]
    violations: list[str]
    log: str | None
    reason: str | None
    summary: str | None
    pid: int | None
    pid_create_time: float | None
    spec_digest: str | None
    slot: int | None = None
    port: int | None = None
    usage: dict[str, Any] | None = None
    resources: dict[str, Any] | None = None
    placed: list[str] = field(default_factory=list)
    node: str | None = None  # where the agent runs (``executor = "ray"``); None: this machine


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One try of a task (a retry after a failed agent or a conflict makes another)."""

    run_id: str
    task_id: str
    attempt: int
    started_at: float | None
    finished_at: float | None
    outcome: str | None
    reason: str | None
    branch: str | None
    base: str | None
    slot: int | None = None
    log: str | None = None
    usage: dict[str, Any] | None = None
    resources: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One entry of a run's event log; ``id`` is the cursor for ``events(since_id=)``."""

    id: int
    run_id: str
    task_id: str | None
    at: float
    kind: str
    data: dict[str, Any]


def coerce(column: str, kind: str, value: object) -> object:
    """One Python value -> what SQLite stores; wrong types fail here, not as odd data later."""
    if isinstance(value, Enum):
        value = value.value
    if kind == _JSON:
        return json.dumps([] if value is None else value)
    if kind == _OBJECT:
        return None if value is None else dumps(value)
    if value is None:
        if column == "state":
            raise ValueError("task state cannot be None")
        return None
    if kind == _TEXT and isinstance(value, str | os.PathLike):
        text = os.fspath(value)
        if column == "state" and text not in _TASK_STATES:
            raise ValueError(f"unknown task state {text!r}; expected one of {sorted(_TASK_STATES)}")
        return text
    if kind == _INT and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == _REAL and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"task column {column!r} takes {kind}, not {type(value).__name__}")


def dumps(value: object) -> str:
    """JSON for the store; anything odd (a Path, an enum) is kept as its text, not refused."""
    return json.dumps(dict(value) if isinstance(value, Mapping) else value, default=str)


def run_record(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        state=row["state"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        target=row["target"],
        base=row["base"],
        instances=row["instances"],
        options=json.loads(row["options"]),
        summary=None if row["summary"] is None else json.loads(row["summary"]),
    )


def attempt_record(row: sqlite3.Row) -> AttemptRecord:
    values = {name: row[name] for name in AttemptRecord.__dataclass_fields__}
    for name in ("usage", "resources"):
        values[name] = _object(values[name])
    return AttemptRecord(**values)


def _object(text: str | None) -> dict[str, Any] | None:
    value = None if text is None else json.loads(text)
    return value if isinstance(value, dict) else None


def event_record(row: sqlite3.Row) -> EventRecord:
    data = json.loads(row["data"])
    return EventRecord(row["id"], row["run_id"], row["task_id"], row["at"], row["kind"], data)


def task_record(row: sqlite3.Row) -> TaskRecord:
    values = {name: row[name] for name in TaskRecord.__dataclass_fields__}
    for name in ("predicted_files", "changed_files", "violations", "placed"):
        values[name] = json.loads(values[name])
    for name in ("usage", "resources"):
        values[name] = _object(values[name])
    return TaskRecord(**values)


# The per-task keys of ``status()`` after ``id``, in order: a promise (add keys, never rename).
STATUS_TASK_KEYS = (
    "agent",
    "state",
    "attempt",
    "started_at",
    "finished_at",
    "merged_at",
    "branch",
    "worktree",
    "base",
    "merge_commit",
    "predicted_files",
    "changed_files",
    "violations",
    "log",
    "reason",
    "summary",
)


def task_status(
    task: TaskRecord, attempts: Sequence[dict[str, object]] = (), isolation: str = "worktree"
) -> dict[str, object]:
    out: dict[str, object] = {"id": task.task_id}
    for key in STATUS_TASK_KEYS:
        value = getattr(task, key)
        out[key] = iso_ms(value) if key.endswith("_at") else value
    # Attempts count from 1: a task that has not started yet is on (will start) attempt 1.
    out["attempt"] = max(1, task.attempt or 0)
    out["slot"] = task.slot
    out["port"] = task.port
    out["node"] = task.node
    out["usage"] = usage_from_dict(task.usage).as_dict()
    out["resources"] = resources_from_dict(task.resources).as_dict()
    out["attempts"] = list(attempts)
    # Chosen at run start for the whole run (``runs.options``); older runs had only worktrees.
    out["isolation"] = isolation
    return out


def attempt_status(attempt: AttemptRecord) -> dict[str, object]:
    return {
        "attempt": attempt.attempt,
        "started_at": iso_ms(attempt.started_at),
        "finished_at": iso_ms(attempt.finished_at),
        "outcome": attempt.outcome,
        "reason": attempt.reason,
        "slot": attempt.slot,
        "log": attempt.log,
        "usage": usage_from_dict(attempt.usage).as_dict(),
        "resources": resources_from_dict(attempt.resources).as_dict(),
    }


def status_document(
    run: RunRecord, tasks: Sequence[TaskRecord], attempts: Sequence[AttemptRecord] = ()
) -> dict[str, object]:
    """The documented ``status --json`` document of one run and its tasks.

    ``usage`` and ``resources`` always carry all their keys (``null`` when unknown): per
    attempt, per task (its attempts together) and for the run (its tasks together).
    """
    tried: dict[str, list[dict[str, object]]] = {}
    for attempt in attempts:
        tried.setdefault(attempt.task_id, []).append(attempt_status(attempt))
    isolation = run.options.get("isolation")
    modes: Mapping[str, str] = isolation if isinstance(isolation, Mapping) else {}
    used = Resources()
    for task in tasks:
        used = used.combine(resources_from_dict(task.resources))
    return {
        "run_id": run.run_id,
        "state": run.state,
        "started_at": iso_ms(run.started_at),
        "finished_at": iso_ms(run.finished_at),
        "target": run.target,
        "base": run.base,
        "instances": run.instances,
        "summary": run.summary,
        "usage": total_usage(usage_from_dict(t.usage) for t in tasks).as_dict(),
        "resources": used.as_dict(),
        "tasks": [
            task_status(task, tried.get(task.task_id, []), modes.get(task.task_id, "worktree"))
            for task in tasks
        ],
    }


def enable_wal(con: sqlite3.Connection, timeout: float) -> None:
    """Switch the file to WAL (a no-op once it is). The switch needs the file to itself for a
    moment, and SQLite may answer "locked" at once instead of waiting on busy_timeout when two
    first writers race, so retry for as long as a writer would wait anyway (``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            con.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
