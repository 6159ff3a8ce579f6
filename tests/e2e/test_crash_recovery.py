"""A coordinator killed again while it recovers (or just after), and what the store says of a
run cut off between keeping a branch and recording it: found by ``scripts/bench soak``.

Each test kills the real CLI with SIGKILL at a named fault point, runs it again, and checks
what a user would: the agent of finished work never runs twice, nothing is set aside under
``coordinator/old/``, and the cut-off run's record names a branch that exists.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from e2e_util import QUICK_GRACE_CONFIG, E2EProject, new_project

TARGET = "coordinator/integration"


def _make(root: Path) -> E2EProject:
    return new_project(root, QUICK_GRACE_CONFIG)


def _run(e2e: E2EProject, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    if fault:
        env["COORDINATOR_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "coordinator.cli", "run"],
        cwd=e2e.root, capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip


def _killed(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr


def _runs(e2e: E2EProject) -> list[str]:
    out = e2e.cli("status", "--json")
    assert out.returncode == 0, out.stderr
    store = e2e.root / ".git" / "coordinator" / "state.db"
    assert store.exists()
    import sqlite3  # noqa: PLC0415 - only this helper reads the store directly

    with sqlite3.connect(store) as con:
        return [r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY started_at")]


def _status(e2e: E2EProject, run_id: str) -> dict[str, Any]:
    out = e2e.cli("status", "--json", "--run", run_id)
    assert out.returncode == 0, out.stderr
    import json  # noqa: PLC0415

    data: dict[str, Any] = json.loads(out.stdout)
    return data


@pytest.mark.parametrize("second", ["after-recovery:1", "run-handed-over:1", "adopting:1"])
def test_finished_work_is_adopted_even_when_the_recovering_run_is_killed_too(
    tmp_path: Path, second: str
) -> None:
    """Run 1 dies after the agent's marker; run 2 dies while taking the work over (before the
    hand-over, after it, or while starting the adopted task); run 3 still merges that work
    without starting the agent again. Before the fix run 2 closed run 1 first, so run 3 no
    longer knew the work was finished: it ran the agent again and set the work aside."""
    e2e = _make(tmp_path / "repo")
    starts = tmp_path / "starts"
    e2e.spec("once", f"@note {starts} started\n@write once.txt 1\n@marker done",
             files=["once.txt"])  # fmt: skip
    _killed(_run(e2e, "after-marker-seen:1"))
    _killed(_run(e2e, second))
    final = _run(e2e)
    assert final.returncode == 0, final.stdout + final.stderr
    assert starts.read_text().splitlines() == ["started"]  # the agent ran once in all
    assert e2e.git("show", f"{TARGET}:once.txt") == "1\n"
    assert e2e.git("for-each-ref", "refs/heads/coordinator/old") == ""
    runs = _runs(e2e)
    for run_id in runs[:-1]:  # every cut-off run is closed, and says who took the work over
        status = _status(e2e, run_id)
        assert status["state"] == "crashed"
        for task in status["tasks"]:
            assert task["state"] in {"done", "cancelled", "pending"}, task
            if task["state"] == "done":
                assert task["reason"].startswith("adopted by run "), task


def test_a_branch_kept_just_before_the_crash_is_what_the_store_names(tmp_path: Path) -> None:
    """Killed after a failed task's branch was renamed to ``coordinator/failed/<run>/<id>``
    and before its end was recorded: the next run records it ``failed`` on that branch. Before
    the fix the record said ``cancelled`` on ``coordinator/task/<id>``, a branch that no longer
    existed, while the work sat on a branch no record named."""
    e2e = _make(tmp_path / "repo")
    e2e.spec("bad", "@write bad.txt 1\n@exit 3", files=["bad.txt"])
    _killed(_run(e2e, "after-branch-kept:1"))
    resumed = _run(e2e)
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    first = _runs(e2e)[0]
    (task,) = _status(e2e, first)["tasks"]
    assert task["state"] == "failed", task
    assert task["branch"] == f"coordinator/failed/{first}/bad"
    assert task["reason"] == "exit code 3"
    assert e2e.git("show", f"{task['branch']}:bad.txt") == "1\n"  # the work is there
