"""Runs driven from Python: in a thread other than the main one, stopped with a StopRequest."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from e2e_util import E2EProject, alive

from coordinator.engine.runner import RunRequest, RunResult, run
from coordinator.engine.stopping import StopRequest
from coordinator.ui.display import RunEvent, RunSummary, TaskRow


class _StopOnStart:
    """A reporter that asks for a stop when a given task starts: an event, not a timer."""

    def __init__(self, stop: StopRequest, task_id: str) -> None:
        self.stop, self.task_id = stop, task_id
        self.kinds: list[str] = []

    def start(self, run_id: str, target: str, total: int) -> None:
        pass

    def event(self, event: RunEvent) -> None:
        self.kinds.append(event.kind)
        if event.kind == "started" and event.task_id == self.task_id:
            self.stop.stop()

    def update(self, rows: Sequence[TaskRow]) -> None:
        pass

    def summary(self, summary: RunSummary) -> None:
        pass

    def close(self) -> None:
        pass


def _run_in_thread(root: Path, reporter: _StopOnStart) -> RunResult:
    results: list[RunResult] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(run(RunRequest(path=root), reporter, stop=reporter.stop))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the run did not stop"
    assert not errors, errors
    return results[0]


def test_a_run_in_a_thread_stops_on_request_and_resumes(e2e: E2EProject, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    e2e.spec("slow", f"@pid {pids}\n@hang", files=["slow.txt"])
    e2e.spec("later", "@write later.txt x", files=["later.txt"], deps=["slow"])
    reporter = _StopOnStart(StopRequest(), "slow")
    result = _run_in_thread(e2e.root, reporter)
    assert result.exit_code == 1
    assert "stopping" in reporter.kinds
    tasks = e2e.tasks()
    assert tasks["slow"]["state"] == "cancelled"
    assert tasks["later"]["state"] in {"cancelled", "skipped"}
    if pids.exists():
        assert not any(alive(int(p)) for p in pids.read_text().split())
    e2e.spec("slow", "@write slow.txt done", files=["slow.txt"])
    again = e2e.cli("run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert {t["state"] for t in e2e.tasks().values()} == {"merged"}


def test_a_stop_asked_for_before_the_run_cancels_everything(e2e: E2EProject) -> None:
    e2e.spec("a", "@write a.txt a", files=["a.txt"])
    stop = StopRequest()
    stop.stop()
    result = _run_in_thread(e2e.root, _StopOnStart(stop, "none"))
    assert result.exit_code == 1
    assert {t["state"] for t in e2e.tasks().values()} == {"cancelled"}
    assert e2e.git("rev-parse", "coordinator/integration") == e2e.git("rev-parse", "HEAD")
