"""The state store against real SQLite files, including readers and writers in other processes."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from coordinator.core.estimates import PastAttempt
from coordinator.core.models import TaskState
from coordinator.errors import CoordinatorError
from coordinator.io.pastattempts import read_past_attempts
from coordinator.io.store import (
    BUSY_TIMEOUT,
    SCHEMA_VERSION,
    NoRunsError,
    Store,
    UnknownRunError,
    iso_ms,
)
from coordinator.io.storeschema import _MIGRATIONS

T0 = 1795428285.1234  # 2026-11-23T10:04:45.123Z
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
RUN_KEYS = ["run_id", "state", "started_at", "finished_at", "target", "tasks"]
TASK_KEYS = [
    "id",
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
]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "repo" / ".git" / "coordinator" / "state.db"


def new_run(store: Store, run_id: str = "r1", started_at: float = T0, tasks: int = 0) -> None:
    store.create_run(
        run_id,
        target="coordinator/integration",
        base="abc123",
        instances=2,
        started_at=started_at,
        options={"only": []},
    )
    with store.transaction():
        for n in range(tasks):
            store.upsert_task(run_id, f"t{n}", agent="coder", state="pending", attempt=0)


# ------------------------------------------------------------------------------ pure parts
def test_iso_ms_is_utc_with_milliseconds() -> None:
    assert iso_ms(T0) == "2026-11-23T10:04:45.123Z"
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ms(1.9999) == "1970-01-01T00:00:01.999Z"  # truncated, never rounded up
    assert iso_ms(None) is None


# ------------------------------------------------------------------------------ round trips
def test_run_task_attempt_event_and_meta_round_trip(db: Path) -> None:
    with Store(db) as store:
        new_run(store)
        store.upsert_task(
            "r1",
            "core",
            agent="coder",
            state=TaskState.PENDING,
            attempt=0,
            predicted_files=("calc/ops.py",),
            spec_digest="d1",
        )
        store.upsert_task(
            "r1",
            "core",
            state="running",
            attempt=1,
            started_at=T0 + 1,
            branch="task/core",
            worktree=db.parent / "wt" / "core",
            base="abc123",
            pid=4242,
            pid_create_time=T0 + 0.5,
        )
        store.add_attempt("r1", "core", 1, started_at=T0 + 1, branch="b", base="abc123")
        store.finish_attempt("r1", "core", 1, finished_at=T0 + 3, outcome="done")
        store.upsert_task(
            "r1",
            "core",
            state="merged",
            finished_at=T0 + 3,
            merged_at=T0 + 4,
            merge_commit="f00",
            changed_files=["calc/ops.py"],
            violations=[],
            summary="wrote ops",
            log="/l/core.log",
        )
        store.add_event("r1", "started", task_id="core", at=T0 + 1, data={"pid": 4242})
        store.add_event("r1", "merged", task_id="core", at=T0 + 4)
        store.add_event("r1", "run-note", at=T0 + 5, data={"path": Path("/x")})
        store.finish_run("r1", state="finished", finished_at=T0 + 6, summary={"merged": 1})
        store.set_meta("daemon.last_cycle", {"cycle": 3, "ok": True})
        store.set_meta("daemon.json-text", json.dumps({"cycle": 4}))
        store.set_meta("note", "plain words")

    with Store.open_readonly(db) as store:
        run = store.run("r1")
        assert run is not None
        assert (run.state, run.started_at, run.finished_at) == ("finished", T0, T0 + 6)
        assert (run.target, run.base, run.instances) == ("coordinator/integration", "abc123", 2)
        assert run.options == {"only": []} and run.summary == {"merged": 1}
        [task] = store.tasks("r1")
        assert task.task_id == "core" and task.agent == "coder" and task.state == "merged"
        assert task.attempt == 1 and task.pid == 4242 and task.pid_create_time == T0 + 0.5
        assert task.worktree == str(db.parent / "wt" / "core")
        assert task.predicted_files == ["calc/ops.py"] and task.changed_files == ["calc/ops.py"]
        assert task.spec_digest == "d1" and task.summary == "wrote ops"
        [attempt] = store.attempts("r1", "core")
        assert (attempt.attempt, attempt.outcome, attempt.finished_at) == (1, "done", T0 + 3)
        events = store.events("r1")
        assert [e.kind for e in events] == ["started", "merged", "run-note"]
        assert events[0].data == {"pid": 4242} and events[2].data == {"path": "/x"}
        assert events[2].task_id is None
        assert [e.kind for e in store.events("r1", since_id=events[0].id)] == ["merged", "run-note"]
        assert store.get_meta("daemon.last_cycle") == {"cycle": 3, "ok": True}
        assert store.get_meta("missing") is None
        assert store.get_meta("daemon.json-text") == {"cycle": 4}  # JSON text decodes too
        assert store.get_meta("note") == "plain words"
        assert store.run("nope") is None
        assert store.run_ids() == ["r1"] and store.last_run_id() == "r1"


def test_status_has_exactly_the_documented_shape(db: Path) -> None:
    with Store(db) as store:
        new_run(store)
        store.upsert_task("r1", "b", agent="coder", state="pending", attempt=0)
        store.upsert_task("r1", "a", agent="docs", state="pending", attempt=0)
        store.upsert_task(
            "r1", "b", state="running", attempt=1, started_at=T0, predicted_files=["x.py"]
        )
        data = store.status()
    assert list(data)[: len(RUN_KEYS) - 1] == RUN_KEYS[:-1] and "tasks" in data
    assert set(data) - set(RUN_KEYS) <= {"base", "instances", "summary", "usage", "resources"}
    assert data["usage"] == {"input_tokens": None, "output_tokens": None, "cost_usd": None}
    assert data["resources"] == {"peak_rss_bytes": None, "cpu_seconds": None}
    assert data["run_id"] == "r1" and data["state"] == "running"
    assert data["started_at"] == "2026-11-23T10:04:45.123Z" and data["finished_at"] is None
    tasks = data["tasks"]
    assert isinstance(tasks, list)
    assert [t["id"] for t in tasks] == ["b", "a"]  # first-insert order, not id or update order
    for task in tasks:
        assert list(task)[: len(TASK_KEYS)] == TASK_KEYS
        assert set(task) - set(TASK_KEYS) <= {
            "reason", "summary", "slot", "port", "node", "usage", "resources", "attempts",
            "isolation",
        }  # fmt: skip
        assert list(task["usage"]) == ["input_tokens", "output_tokens", "cost_usd"]
        assert list(task["resources"]) == ["peak_rss_bytes", "cpu_seconds"]
        assert task["state"] in {s.value for s in TaskState}
    b = tasks[0]
    assert b["attempt"] == 1 and ISO.match(b["started_at"]) and b["finished_at"] is None
    assert b["predicted_files"] == ["x.py"] and b["changed_files"] == [] and b["violations"] == []
    assert tasks[1]["attempt"] == 1  # not started yet: it will start as attempt 1
    json.dumps(data)  # plain JSON all the way down


def test_status_picks_the_last_run_and_names_unknown_ones(db: Path) -> None:
    with Store(db) as store:
        new_run(store, "r-old", started_at=T0, tasks=1)
        new_run(store, "r-new", started_at=T0 + 60, tasks=2)
        assert store.status()["run_id"] == "r-new"
        assert len(store.status("r-old")["tasks"]) == 1  # type: ignore[arg-type]
        assert store.run_ids() == ["r-old", "r-new"]
        with pytest.raises(UnknownRunError, match=r"r-nope.*r-old, r-new") as info:
            store.status("r-nope")
        assert info.value.exit_code == 2


def test_no_store_or_no_run_is_a_clear_exit_1(db: Path) -> None:
    with pytest.raises(NoRunsError) as info:
        Store.open_readonly(db)
    assert str(info.value) == (
        f"no runs recorded yet in {db.parents[2]}; run `coordinator run` first"
    )
    assert info.value.exit_code == 1 and isinstance(info.value, CoordinatorError)
    Store(db).close()  # schema only, no run
    with Store.open_readonly(db) as store, pytest.raises(NoRunsError):
        store.status()
    assert not db.with_name("elsewhere.db").exists()


def test_latest_task_records_takes_the_newest_run_per_task(db: Path) -> None:
    with Store(db) as store:
        new_run(store, "r1", started_at=T0)
        store.upsert_task("r1", "a", state="failed", attempt=1)
        store.upsert_task("r1", "b", state="merged", attempt=1)
        new_run(store, "r2", started_at=T0 + 10)
        store.upsert_task("r2", "a", state="merged", attempt=1, spec_digest="new")
        latest = store.latest_task_records()
    assert {k: (v.run_id, v.state) for k, v in latest.items()} == {
        "a": ("r2", "merged"),
        "b": ("r1", "merged"),
    }
    assert latest["a"].spec_digest == "new"


def test_past_attempts_are_the_done_ones_newest_first_with_agent_and_digest(db: Path) -> None:
    assert read_past_attempts(db) == []  # no store yet: no history, and no file created
    assert not db.exists()
    with Store(db) as store:
        new_run(store, "r1", started_at=T0)
        store.upsert_task("r1", "a", agent="coder", spec_digest="d1")
        store.upsert_task("r1", "b", agent="reviewer", spec_digest="d2")
        store.add_attempt("r1", "a", 1, started_at=T0, branch="x", base="y")
        store.finish_attempt("r1", "a", 1, finished_at=T0 + 12, outcome="done")
        store.add_attempt("r1", "b", 1, started_at=T0, branch="x", base="y")
        store.finish_attempt("r1", "b", 1, finished_at=T0 + 2, outcome="failed")
        store.add_attempt("r1", "b", 2, started_at=T0 + 3, branch="x", base="y")
        store.finish_attempt("r1", "b", 2, finished_at=T0 + 30, outcome="done")
        store.add_attempt("r1", "a", 2, started_at=T0 + 40, branch="x", base="y")  # unfinished
    assert read_past_attempts(db) == [
        PastAttempt("b", "reviewer", "d2", 27.0),
        PastAttempt("a", "coder", "d1", 12.0),
    ]


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "column",
    ["state = 'merged' --", "run_id", "task_id", "position", "nope", "agent;DROP TABLE tasks"],
)
def test_upsert_rejects_columns_outside_the_whitelist(db: Path, column: str) -> None:
    with Store(db) as store:
        new_run(store, tasks=1)
        with pytest.raises(ValueError, match="unknown task column"):
            store.upsert_task("r1", "t0", **{column: "x"})
        [task] = store.tasks("r1")
        assert task.state == "pending" and task.agent == "coder"


def test_upsert_rejects_bad_values_and_unknown_runs(db: Path) -> None:
    with Store(db) as store:
        new_run(store, tasks=1)
        with pytest.raises(ValueError, match="unknown task state"):
            store.upsert_task("r1", "t0", state="exploded")
        with pytest.raises(ValueError, match="cannot be None"):
            store.upsert_task("r1", "t0", state=None)
        with pytest.raises(TypeError, match="attempt"):
            store.upsert_task("r1", "t0", attempt="2")
        with pytest.raises(TypeError, match="started_at"):
            store.upsert_task("r1", "t0", started_at=True)
        with pytest.raises(ValueError, match="unknown run"):
            store.upsert_task("r-missing", "t0", state="pending")
        with pytest.raises(ValueError, match="already recorded"):
            new_run(store)
        with pytest.raises(ValueError, match="unknown run"):
            store.finish_run("r-missing", state="finished", finished_at=T0, summary={})
        store.upsert_task("r1", "t0")  # no columns: insert-if-missing, no change
        assert store.tasks("r1")[0].state == "pending"


def test_a_failed_transaction_leaves_nothing_behind(db: Path) -> None:
    with Store(db) as store:
        new_run(store)
        with pytest.raises(RuntimeError), store.transaction():
            store.upsert_task("r1", "a", state="pending")
            store.add_event("r1", "x", at=T0)
            raise RuntimeError("boom")
        assert store.tasks("r1") == [] and store.events("r1") == []


def test_readonly_store_refuses_writes(db: Path) -> None:
    with Store(db) as store:
        new_run(store)
    with Store.open_readonly(db) as store, pytest.raises(RuntimeError, match="read-only"):
        store.add_event("r1", "x", at=T0)


# ------------------------------------------------------------------- file and schema
def test_wal_schema_version_and_reopen(db: Path) -> None:
    with Store(db) as store:
        new_run(store, tasks=2)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 1
    con.close()
    with Store(db) as store:  # reopening migrates nothing and keeps the data
        assert [t.task_id for t in store.tasks("r1")] == ["t0", "t1"]
        store.upsert_task("r1", "t2", state="pending")
        assert [t.task_id for t in store.tasks("r1")] == ["t0", "t1", "t2"]


def test_a_newer_schema_is_refused_not_clobbered(db: Path) -> None:
    Store(db).close()
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    for opener in (Store, Store.open_readonly):
        with pytest.raises(CoordinatorError, match="newer coordinator"):
            opener(db)


def test_a_file_that_is_not_a_database_is_a_handled_error(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CoordinatorError, match="cannot use the state database"):
        Store(db)


def test_paths_with_uri_characters_open_readonly(tmp_path: Path) -> None:
    db = tmp_path / "we?ird #dir %20" / "state.db"
    with Store(db) as store:
        new_run(store, tasks=1)
    with Store.open_readonly(db) as store:
        assert store.status()["run_id"] == "r1"


# ------------------------------------------------------------------ across processes
# Reads until it has seen several of the writer's transactions (not a fixed number of reads,
# which a loaded machine may finish while the writer is not scheduled at all).
READER = """
    import json, sys, time
    from pathlib import Path
    from coordinator.io.store import Store
    seen, bad = [], []
    deadline = time.monotonic() + 60
    with Store.open_readonly(Path(sys.argv[1])) as store:
        while len(set(seen)) < int(sys.argv[2]) and time.monotonic() < deadline:
            status = store.status("r1")
            attempts = {t["attempt"] for t in status["tasks"]}
            if len(status["tasks"]) != 5 or len(attempts) != 1:
                bad.append(sorted(attempts))
            seen.append(min(attempts))
    print(json.dumps({"seen": seen, "bad": bad}))
"""


def test_a_reader_process_sees_whole_transactions_while_the_writer_writes(db: Path) -> None:
    with Store(db) as store:
        new_run(store, tasks=5)
        reader = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(READER), str(db), "5"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 90
        i = 0
        while reader.poll() is None and time.monotonic() < deadline:
            i += 1
            with store.transaction():  # five rows change together, or not at all
                for n in range(5):
                    store.upsert_task("r1", f"t{n}", state="running", attempt=i)
                store.add_event("r1", "tick", at=time.time(), data={"i": i})
        out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    result = json.loads(out)
    assert result["bad"] == []
    assert result["seen"] == sorted(result["seen"])  # never goes back in time
    assert len(set(result["seen"])) >= 5  # it really read while the writes went on
    assert i > 1


HOLDER = """
    import sqlite3, sys
    from pathlib import Path
    con = sqlite3.connect(Path(sys.argv[1]).as_uri() + "?mode=ro", uri=True, isolation_level=None)
    con.execute("BEGIN")
    count = lambda: con.execute("SELECT count(*) FROM events").fetchone()[0]
    print(count(), flush=True)
    sys.stdin.readline()
    print(count(), flush=True)  # same snapshot: the writes in between are invisible
    con.execute("COMMIT")
    print(count(), flush=True)
"""


def test_an_open_read_transaction_does_not_block_the_writer(db: Path) -> None:
    with Store(db) as store:
        new_run(store)
        holder = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(HOLDER), str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline().strip() == "0"
        for n in range(50):
            started = time.monotonic()
            store.add_event("r1", "tick", at=T0 + n)  # a blocked write fails after BUSY_TIMEOUT
            assert time.monotonic() - started < BUSY_TIMEOUT / 2  # never waited for the lock
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "0"
        assert holder.stdout.readline().strip() == "50"
        assert holder.wait(timeout=30) == 0


WRITER = """
    import sys, time
    from pathlib import Path
    from coordinator.io.store import Store
    db, run_id, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    Path(sys.argv[4]).touch()  # at the start line
    while not go.exists():
        time.sleep(0.005)
    with Store(db) as store:  # both may create the schema at the same moment
        store.create_run(run_id, target="t", base="b", instances=1, started_at=time.time())
        for n in range(150):
            store.upsert_task(run_id, f"t{n % 10}", state="running", attempt=n + 1)
            store.add_event(run_id, "tick", task_id=f"t{n % 10}", at=time.time(), data={"n": n})
        store.finish_run(run_id, state="finished", finished_at=time.time(), summary={"n": 150})
"""


def test_two_writer_processes_do_not_corrupt_the_store(db: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{run_id}" for run_id in ("run-a", "run-b")]
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITER), str(db), run_id, str(go), str(flag)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for run_id, flag in zip(("run-a", "run-b"), ready, strict=True)
    ]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready):  # both wait at the start line
        assert time.monotonic() < deadline and all(w.poll() is None for w in writers)
        time.sleep(0.01)
    go.touch()
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    with Store.open_readonly(db) as store:
        assert sorted(store.run_ids()) == ["run-a", "run-b"]
        for run_id in ("run-a", "run-b"):
            assert len(store.events(run_id)) == 150
            tasks = store.tasks(run_id)
            assert [t.task_id for t in tasks] == [f"t{n}" for n in range(10)]
            assert max(t.attempt for t in tasks) == 150
            status = store.status(run_id)
            assert status["state"] == "finished"


def test_a_schema_1_store_is_migrated_and_keeps_its_runs(db: Path) -> None:
    """A store written before usage, resources, slots and placed files: opened, it gains
    them (unknown for what ran before) and keeps every run it had."""
    db.parent.mkdir(parents=True)
    con = sqlite3.connect(db)
    for statement in _MIGRATIONS[0]:
        con.execute(statement)
    con.execute("PRAGMA user_version = 1")
    con.execute(
        "INSERT INTO runs (run_id, state, started_at, target, base, instances)"
        " VALUES ('old', 'finished', ?, 'coordinator/integration', 'abc', 2)",
        (T0,),
    )
    con.execute(
        "INSERT INTO tasks (run_id, task_id, position, agent, state, attempt)"
        " VALUES ('old', 't', 1, 'fake', 'merged', 1)"
    )
    con.execute(
        "INSERT INTO attempts (run_id, task_id, attempt, outcome) VALUES ('old','t',1,'done')"
    )
    con.commit()
    con.close()
    with Store(db) as store:
        data = store.status()
        usage = {"input_tokens": 5, "output_tokens": 1, "cost_usd": None}
        store.upsert_task("old", "t", slot=1, port=20010, placed=[".env"], usage=usage,
                          node="host:0123abcd")  # fmt: skip
        record = store.tasks("old")[0]
    tasks = data["tasks"]
    assert isinstance(tasks, list)
    (task,) = tasks
    assert task["usage"] == {"input_tokens": None, "output_tokens": None, "cost_usd": None}
    assert task["attempts"][0]["outcome"] == "done" and task["slot"] is None
    assert (record.slot, record.port, record.placed) == (1, 20010, [".env"])
    assert record.node == "host:0123abcd" and task["node"] is None
    assert record.usage == {"input_tokens": 5, "output_tokens": 1, "cost_usd": None}
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
