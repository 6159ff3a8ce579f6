"""The task book: every transition updates the record, the store and the display together."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from plans import make_plan

from coordinator.core.decisions import Completion, interrupted
from coordinator.core.models import TaskState
from coordinator.core.policy import Scheduler
from coordinator.engine.book import TaskBook
from coordinator.engine.recorder import Recorder
from coordinator.io.store import Store
from coordinator.ui.display import RunEvent, RunSummary, TaskRow

RUN = "run-1"


class Quiet:
    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    def start(self, run_id: str, target: str, total: int) -> None:
        pass

    def event(self, event: RunEvent) -> None:
        self.events.append(event)

    def update(self, rows: Sequence[TaskRow]) -> None:
        pass

    def summary(self, summary: RunSummary) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "state.db") as opened:
        opened.create_run(RUN, target="t", base="", instances=2, started_at=0.0)
        yield opened


def book_of(store: Store, deps: dict[str, list[str]]) -> tuple[TaskBook, Quiet]:
    plan = make_plan(deps)
    quiet = Quiet()
    rec = Recorder(store, quiet, RUN)
    book = TaskBook(plan, Scheduler(plan, instances=2, caps={}), store, rec, run_id=RUN, target="t")
    for task_id in plan.ids:
        store.upsert_task(RUN, task_id, agent="coder", state="pending")
    return book, quiet


def stored(store: Store, task_id: str) -> dict[str, object]:
    record = next(t for t in store.tasks(RUN) if t.task_id == task_id)
    return {"state": record.state, "reason": record.reason, "branch": record.branch}


def shown(book: TaskBook, task_id: str) -> tuple[str, str]:
    row = next(r for r in book.rows() if r.id == task_id)
    return row.state, row.note


def test_memory_store_and_display_agree_through_a_task_s_life(store: Store) -> None:
    book, quiet = book_of(store, {"a": [], "b": ["a"]})
    assert book.next_starts(admit=True, why="") == ["a"]
    assert (book["a"].state, stored(store, "a")["state"]) == (TaskState.RUNNING, "running")
    assert shown(book, "b") == ("pending", "waiting for dependency a")
    book.worktree_ready("a", branch="coordinator/task/a", worktree="/w/a", base="b0", log="/l")
    book.agent_finished("a", Completion(True, "marker", summary="did it"))
    assert stored(store, "a")["state"] == "done" and book["a"].summary == "did it"
    book.collected("a", head="h1", changed=["a.txt"], violations=[])
    book.merging("a")
    assert (book.merge_order(), stored(store, "a")["state"], shown(book, "a")[0]) == (
        ["a"], "merging", "merging",
    )  # fmt: skip
    book.verifying("a", 4242, None)
    assert stored(store, "a")["state"] == "verifying"
    book.merged("a", "m" * 40)
    assert (book["a"].state, stored(store, "a")["state"]) == (TaskState.MERGED, "merged")
    assert book.next_starts(admit=True, why="") == ["b"]  # the dependency landed
    kinds = [e.kind for e in quiet.events]
    assert kinds == ["finished", "merging", "merged", "timing"]  # timing: the task's own cost


def test_an_agent_s_failure_skips_dependents_at_once_and_ends_with_its_branch(store: Store) -> None:
    book, _ = book_of(store, {"a": [], "b": ["a"], "c": ["b"]})
    book.next_starts(admit=True, why="")
    book.agent_finished("a", Completion(False, "exit code 3", "exit code 3"))
    assert {t: stored(store, t)["state"] for t in "abc"} == {
        "a": "running", "b": "skipped", "c": "skipped",
    }  # fmt: skip
    book.ended("a", TaskState.FAILED, "exit code 3", branch="coordinator/failed/run-1/a")
    assert stored(store, "a") == {
        "state": "failed", "reason": "exit code 3", "branch": "coordinator/failed/run-1/a",
    }  # fmt: skip
    assert shown(book, "c") == ("skipped", "dependency a was not merged")
    assert book.done()


def test_a_conflict_retry_runs_a_second_attempt(store: Store) -> None:
    book, _ = book_of(store, {"a": []})
    book.next_starts(admit=True, why="")
    book.agent_finished("a", Completion(True, "marker"))
    book.retried("a", kept="coordinator/conflict/run-1/a", reason="merge conflict in x")
    assert (book["a"].state, stored(store, "a")["branch"]) == (
        TaskState.PENDING, "coordinator/conflict/run-1/a",
    )  # fmt: skip
    assert book.next_starts(admit=True, why="") == ["a"]
    assert (book["a"].attempt, book["a"].branch) == (2, None)  # a fresh start, no old branch


def test_a_stop_cancels_what_has_not_started(store: Store) -> None:
    book, _ = book_of(store, {"a": [], "b": ["a"]})
    book.next_starts(admit=True, why="")
    book.cancel_pending()
    assert stored(store, "b") == {
        "state": "cancelled", "reason": "interrupted before it started", "branch": None,
    }  # fmt: skip
    book.agent_finished("a", interrupted())
    book.ended("a", TaskState.CANCELLED, "interrupted", branch="coordinator/cancelled/run-1/a")
    summary = book.summary(1.0, "t", 1)
    assert (summary.counts, summary.exit_code) == ({"cancelled": 2}, 1)


def test_a_transition_is_one_transaction_timed_once_as_the_task_s_store_phase(
    store: Store,
) -> None:
    """The record and the event that says it are written together (a reader never sees the
    state without its event), and the task's ``store`` phase counts that write once."""
    book, _ = book_of(store, {"a": []})
    book.next_starts(admit=True, why="")
    book.worktree_ready("a", branch="coordinator/task/a", worktree="/w/a", base="b0", log="/l")
    book.agent_finished("a", Completion(True, "marker"))
    book.collected("a", head="h1", changed=["a.txt"], violations=[])
    before = dict(book.rec.phases["a"])
    commits: list[str] = []
    store._con.set_trace_callback(  # the statements SQLite runs, as it runs them
        lambda sql: commits.append(sql) if sql in ("BEGIN IMMEDIATE", "COMMIT") else None
    )
    book.merging("a")
    store._con.set_trace_callback(None)
    assert commits == ["BEGIN IMMEDIATE", "COMMIT"]
    assert book.rec.phases["a"]["store"] > before["store"]
    outside = book.rec.phases["a"]["store"]
    with book.rec.storing("a"):
        book.rec.emit("note", "a", "one")
        book.rec.emit("note", "a", "two")
        inside = book.rec.phases["a"]["store"]
    assert inside == outside  # the writes inside are not counted on their own...
    assert book.rec.phases["a"]["store"] > inside  # ...but once, when the transaction ends
