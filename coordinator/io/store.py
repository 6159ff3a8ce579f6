"""The embedded state store: one SQLite file that records runs, tasks, attempts and events.

Why SQLite in WAL mode: the engine writes as things happen, and ``coordinator status`` in another
terminal must be able to read *during* a run. In WAL mode readers never block the writer and the
writer never blocks readers; every read below runs in one read transaction, so a reader sees
whole write transactions or nothing of them. Writes are short ``BEGIN IMMEDIATE`` transactions
(the write lock is taken up front, so a second writer, e.g. a daemon overlapping a run, waits on
``busy_timeout`` instead of failing halfway). ``synchronous=NORMAL`` is durable enough in WAL: a
power cut may lose the last commits, never corrupt the file.

The schema version lives in ``PRAGMA user_version``; ``_MIGRATIONS[n]`` brings version ``n`` to
``n + 1``, so a later release adds a step instead of rewriting the file. Times are float epoch
seconds in the file and ISO-8601 UTC with milliseconds in ``status()``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from coordinator.errors import CoordinatorError
from coordinator.io.storeschema import (
    _MIGRATIONS,
    SCHEMA_VERSION,
    STATUS_TASK_KEYS,
    TASK_COLUMNS,
    AttemptRecord,
    EventRecord,
    NoRunsError,
    RunRecord,
    TaskRecord,
    UnknownRunError,
    attempt_record,
    coerce,
    dumps,
    enable_wal,
    event_record,
    iso_ms,
    run_record,
    status_document,
    task_record,
)

__all__ = [
    "BUSY_TIMEOUT", "SCHEMA_VERSION", "STATUS_TASK_KEYS", "TASK_COLUMNS", "AttemptRecord",
    "EventRecord", "NoRunsError", "RunRecord", "Store", "TaskRecord", "UnknownRunError", "iso_ms",
]  # fmt: skip

BUSY_TIMEOUT = 10.0  # seconds a writer waits for another writer's (short) transaction


class Store:
    """The state database. ``Store(path)`` writes (creating it); ``open_readonly`` only reads.

    A store is meant for one thread (the engine's), but an internal lock makes stray calls from
    another thread safe rather than corrupting a transaction in progress.
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        if readonly:  # a URI, so that ``mode=ro`` applies; as_uri() escapes ``?``, ``#``, ``%``
            target = self.path.resolve().as_uri() + "?mode=ro"
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            target = str(self.path)
        try:
            # Autocommit mode (isolation_level=None): every transaction below is explicit.
            self._con = sqlite3.connect(
                target,
                uri=readonly,
                timeout=BUSY_TIMEOUT,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise CoordinatorError(f"cannot open the state database {self.path}: {exc}") from exc
        self._con.row_factory = sqlite3.Row
        try:
            self._setup()
        except BaseException as exc:
            self._con.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise CoordinatorError(f"cannot use the state database {self.path}: {exc}") from exc
            raise

    @classmethod
    def open_readonly(cls, path: Path) -> Store:
        """For ``status``/``review`` while a run may be writing; raises ``NoRunsError``."""
        path = Path(path)
        if not path.is_file():
            raise NoRunsError.at(path)
        return cls(path, readonly=True)

    def _setup(self) -> None:
        self._check_version(self._user_version())
        if self.readonly:
            self._con.execute("PRAGMA query_only = ON")
            if self._user_version() == 0:  # the file exists; its first writer has not committed
                raise NoRunsError.at(self.path)
            return
        enable_wal(self._con, BUSY_TIMEOUT)
        self._con.execute("PRAGMA synchronous = NORMAL")
        self._con.execute("PRAGMA foreign_keys = ON")
        if self._user_version() < SCHEMA_VERSION:
            with self.transaction():
                version = self._user_version()  # another writer may have migrated meanwhile
                self._check_version(version)
                for step in range(version, SCHEMA_VERSION):
                    for statement in _MIGRATIONS[step]:
                        self._con.execute(statement)
                # PRAGMA takes no parameters; the value is our own integer constant.
                self._con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise CoordinatorError(
                f"{self.path} was written by a newer coordinator (schema {version}; this "
                f"version reads up to {SCHEMA_VERSION}); upgrade worktree-coordinator"
            )

    def _user_version(self) -> int:
        return int(self._con.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes so readers see all of them or none; nested calls join the outer one."""
        if self.readonly:
            raise RuntimeError(f"{self.path} was opened read-only")
        with self._lock:
            if self._con.in_transaction:
                yield
                return
            try:
                self._con.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise CoordinatorError(
                    f"the state database {self.path} stayed locked for {BUSY_TIMEOUT:.0f}s "
                    f"by another coordinator process: {exc}"
                ) from exc
            try:
                yield
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """One read transaction, so several SELECTs see the same committed state."""
        with self._lock:
            if self._con.in_transaction:
                yield self._con
                return
            self._con.execute("BEGIN")
            try:
                yield self._con
            finally:
                self._con.execute("COMMIT")

    # ------------------------------------------------------------------------ writes
    def create_run(
        self,
        run_id: str,
        *,
        target: str,
        base: str,
        instances: int,
        started_at: float,
        options: Mapping[str, object] = {},
    ) -> None:
        """Record a new run in state ``running``; a run id can be created only once."""
        with self.transaction():
            try:
                self._con.execute(
                    "INSERT INTO runs (run_id, state, started_at, target, base, instances,"
                    " options) VALUES (?, 'running', ?, ?, ?, ?, ?)",
                    (run_id, started_at, target, base, instances, dumps(options)),
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"run {run_id!r} is already recorded") from None

    def finish_run(
        self, run_id: str, *, state: str, finished_at: float, summary: Mapping[str, object]
    ) -> None:
        with self.transaction():
            cursor = self._con.execute(
                "UPDATE runs SET state = ?, finished_at = ?, summary = ? WHERE run_id = ?",
                (state, finished_at, dumps(summary), run_id),
            )
            if cursor.rowcount == 0:
                raise ValueError(f"unknown run {run_id!r}")

    def upsert_task(self, run_id: str, task_id: str, /, **fields: object) -> None:
        """Insert the task (in first-insert order) or update only the columns given."""
        unknown = sorted(set(fields) - set(TASK_COLUMNS))
        if unknown:
            raise ValueError(f"unknown task column(s) {unknown}; known: {sorted(TASK_COLUMNS)}")
        names = list(fields)  # every name is now one of our own identifiers
        values = [coerce(name, TASK_COLUMNS[name], fields[name]) for name in names]
        columns = "".join(f", {name}" for name in names)
        holders = ", ?" * len(names)
        update = ", ".join(f"{name} = excluded.{name}" for name in names)
        sql = (
            f"INSERT INTO tasks (run_id, task_id, position{columns}) VALUES (?, ?, "  # noqa: S608
            f"(SELECT COALESCE(MAX(position), 0) + 1 FROM tasks WHERE run_id = ?){holders}) "
            "ON CONFLICT (run_id, task_id) DO " + (f"UPDATE SET {update}" if names else "NOTHING")
        )
        with self.transaction():
            try:
                self._con.execute(sql, (run_id, task_id, run_id, *values))
            except sqlite3.IntegrityError:
                raise ValueError(f"unknown run {run_id!r}") from None

    def add_attempt(
        self,
        run_id: str,
        task_id: str,
        attempt: int,
        *,
        started_at: float,
        branch: str | None = None,
        base: str | None = None,
        slot: int | None = None,
        log: str | None = None,
    ) -> None:
        """Start (or restart, after a crash) attempt ``attempt`` (from 1) of a task."""
        with self.transaction():
            self._con.execute(
                "INSERT OR REPLACE INTO attempts (run_id, task_id, attempt, started_at, branch,"
                " base, slot, log) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, task_id, attempt, started_at, branch, base, slot, log),
            )

    def attempt_used(
        self, run_id: str, task_id: str, attempt: int, *, usage: Mapping[str, object],
        resources: Mapping[str, object],
    ) -> None:  # fmt: skip
        """What one attempt's agent used (tokens and cost, memory and CPU)."""
        with self.transaction():
            self._con.execute(
                "UPDATE attempts SET usage = ?, resources = ? WHERE run_id = ? AND task_id = ?"
                " AND attempt = ?", (dumps(usage), dumps(resources), run_id, task_id, attempt),
            )  # fmt: skip

    def finish_attempt(
        self,
        run_id: str,
        task_id: str,
        attempt: int,
        *,
        finished_at: float,
        outcome: str,
        reason: str | None = None,
    ) -> None:
        with self.transaction():
            cursor = self._con.execute(
                "UPDATE attempts SET finished_at = ?, outcome = ?, reason = ?"
                " WHERE run_id = ? AND task_id = ? AND attempt = ?",
                (finished_at, outcome, reason, run_id, task_id, attempt),
            )
            if cursor.rowcount == 0:
                raise ValueError(f"no attempt {attempt} of {task_id!r} in run {run_id!r}")

    def add_event(
        self,
        run_id: str,
        kind: str,
        *,
        task_id: str | None = None,
        at: float,
        data: Mapping[str, object] = {},
    ) -> None:
        with self.transaction():
            self._con.execute(
                "INSERT INTO events (run_id, task_id, at, kind, data) VALUES (?, ?, ?, ?, ?)",
                (run_id, task_id, at, kind, dumps(data)),
            )

    def set_meta(self, key: str, value: object) -> None:
        """Small values that outlive runs (e.g. the daemon's last cycle summary).

        Stored as JSON text: a ``str`` is taken to be JSON text already (the daemon passes
        ``json.dumps(record)``), anything else is encoded here; ``get_meta`` decodes either way.
        """
        text = value if isinstance(value, str) else dumps(value)
        with self.transaction():
            self._con.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, text),
            )

    # ------------------------------------------------------------------------- reads
    def get_meta(self, key: str) -> Any:
        """The decoded value, ``None`` if unset; text that is not JSON comes back as text."""
        with self._snapshot() as con:
            row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return json.loads(row["value"])
        except ValueError:
            return row["value"]

    def run_ids(self) -> list[str]:
        """Oldest first."""
        with self._snapshot() as con:
            rows = con.execute("SELECT run_id FROM runs ORDER BY started_at, run_id").fetchall()
        return [row["run_id"] for row in rows]

    def last_run_id(self) -> str | None:
        with self._snapshot() as con:
            row = con.execute(
                "SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC LIMIT 1"
            ).fetchone()
        return None if row is None else str(row["run_id"])

    def run(self, run_id: str) -> RunRecord | None:
        with self._snapshot() as con:
            row = con.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else run_record(row)

    def tasks(self, run_id: str) -> list[TaskRecord]:
        """In the order the tasks were first inserted (the plan's order)."""
        with self._snapshot() as con:
            rows = con.execute(
                "SELECT * FROM tasks WHERE run_id = ? ORDER BY position", (run_id,)
            ).fetchall()
        return [task_record(row) for row in rows]

    def attempts(self, run_id: str, task_id: str | None = None) -> list[AttemptRecord]:
        with self._snapshot() as con:
            rows = con.execute(
                "SELECT * FROM attempts WHERE run_id = ? AND (? IS NULL OR task_id = ?)"
                " ORDER BY started_at, task_id, attempt",
                (run_id, task_id, task_id),
            ).fetchall()
        return [attempt_record(row) for row in rows]

    def events(self, run_id: str, since_id: int = 0) -> list[EventRecord]:
        """Events with ``id > since_id``, oldest first: poll with the last id you saw."""
        with self._snapshot() as con:
            rows = con.execute(
                "SELECT * FROM events WHERE run_id = ? AND id > ? ORDER BY id", (run_id, since_id)
            ).fetchall()
        return [event_record(row) for row in rows]

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        """One read query in its own snapshot, for readers kept apart (``io.pastattempts``)."""
        with self._snapshot() as con:
            return con.execute(sql, tuple(params)).fetchall()

    def latest_task_records(self) -> dict[str, TaskRecord]:
        """The newest record of every task id across runs (newest run by start time)."""
        with self._snapshot() as con:
            rows = con.execute(
                "SELECT * FROM (SELECT t.*, ROW_NUMBER() OVER (PARTITION BY t.task_id"
                " ORDER BY r.started_at DESC, r.run_id DESC) AS newest"
                " FROM tasks t JOIN runs r USING (run_id)) WHERE newest = 1 ORDER BY task_id"
            ).fetchall()
        return {row["task_id"]: task_record(row) for row in rows}

    def status(self, run_id: str | None = None) -> dict[str, object]:
        """The documented ``status --json`` document of ``run_id`` (default: the last run).

        The keys are a promise to users' scripts: new keys may be added, none renamed.
        """
        with self._snapshot():  # one snapshot: the run and its tasks agree
            run_id = run_id or self.last_run_id()
            if run_id is None:
                raise NoRunsError.at(self.path)
            run = self.run(run_id)
            if run is None:
                raise UnknownRunError(
                    f"no run {run_id!r} is recorded; known runs: "
                    + (", ".join(self.run_ids()[-5:]) or "none")
                )
            tasks = self.tasks(run_id)
            attempts = self.attempts(run_id)
        return status_document(run, tasks, attempts)
