"""``[notify] command`` end to end: each event once, for ``run`` and the daemon; a notifier that
fails or hangs is logged and killed, and never stops the run."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from e2e_util import FAKE_CONFIG, E2EProject

RECORDER = "import sys\nwith open(sys.argv[1], 'a') as out: out.write(sys.stdin.read() + '\\n')\n"


def _notify_table(inbox: Path, extra: str = "") -> str:
    command = [sys.executable, "-c", RECORDER, str(inbox)]
    return f"\n[notify]\ncommand = {json.dumps(command)}\n{extra}"


def _received(inbox: Path) -> list[dict[str, Any]]:
    if not inbox.exists():
        return []
    return [json.loads(line) for line in inbox.read_text().splitlines() if line.strip()]


def test_the_notifier_receives_each_event_once(e2e: E2EProject, tmp_path: Path) -> None:
    inbox, sig = tmp_path / "inbox.jsonl", tmp_path / "sig"
    sig.mkdir()
    e2e.config(
        'footprint = "declared"\non_conflict = "stop"\n' + FAKE_CONFIG + _notify_table(inbox)
    )
    e2e.spec("broken", "@exit 2", files=["broken.txt"])
    # x and y run side by side from the same head and both write shared.txt: the second to
    # merge conflicts.
    e2e.spec("x", f"@touch {sig}/x\n@wait {sig}/y 30\n@write shared.txt x", files=["x.txt"])
    e2e.spec("y", f"@touch {sig}/y\n@wait {sig}/x 30\n@write shared.txt y", files=["y.txt"])

    result = e2e.cli("run", "--instances", "3")

    assert result.returncode == 1, result.stdout + result.stderr
    received = _received(inbox)
    assert Counter(n["event"] for n in received) == {
        "task_failed": 1, "task_conflict": 1, "run_finished": 1
    }  # fmt: skip
    assert received[-1]["event"] == "run_finished"
    by_event = {n["event"]: n for n in received}
    run_id = e2e.status()["run_id"]
    failed = by_event["task_failed"]
    assert failed["run_id"] == run_id and failed["task"]["id"] == "broken"
    assert failed["task"]["reason"] == "exit code 2"
    assert failed["task"]["branch"] == f"coordinator/failed/{run_id}/broken"
    conflict = by_event["task_conflict"]["task"]
    assert conflict["id"] in {"x", "y"} and conflict["state"] == "conflict"
    summary = by_event["run_finished"]["summary"]
    assert summary["run_id"] == run_id and summary["exit_code"] == 1
    assert summary["counts"] == {"merged": 1, "failed": 1, "conflict": 1}
    assert all(n["at"].endswith("Z") for n in received)


def test_a_notifier_that_hangs_or_fails_is_logged_and_killed_and_the_run_goes_on(
    e2e: E2EProject, tmp_path: Path
) -> None:
    hang = [sys.executable, "-c", "import time; time.sleep(120)"]
    e2e.config(FAKE_CONFIG + f'\n[notify]\ncommand = {json.dumps(hang)}\ntimeout = "1s"\n')
    e2e.spec("broken", "@exit 2", files=["broken.txt"])
    e2e.spec("fine", "@write fine.txt f", files=["fine.txt"])
    started = time.monotonic()

    result = e2e.cli("run", "--json")

    assert result.returncode == 1, result.stdout + result.stderr
    assert time.monotonic() - started < 60
    events = [json.loads(line) for line in result.stdout.splitlines()]
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert len([w for w in warnings if "timed out after 1s and was killed" in w]) == 2, warnings
    assert e2e.tasks()["fine"]["state"] == "merged"

    missing = ["/nonexistent/notifier"]
    e2e.config(FAKE_CONFIG + f"\n[notify]\ncommand = {json.dumps(missing)}\n")
    e2e.spec("again", "@write again.txt a", files=["again.txt"])
    again = e2e.cli("run", "--only", "again")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "notify command for run_finished: cannot run" in again.stdout


def test_the_daemon_notifies_too_and_its_own_notify_still_gets_the_summary(
    e2e: E2EProject, tmp_path: Path
) -> None:
    inbox, daemon_inbox = tmp_path / "inbox.jsonl", tmp_path / "daemon.jsonl"
    daemon_notify = [sys.executable, "-c", RECORDER, str(daemon_inbox)]
    e2e.config(
        FAKE_CONFIG
        + _notify_table(inbox, 'events = ["task_failed", "run_finished"]\n')
        + f"\n[daemon]\nnotify = {json.dumps(daemon_notify)}\n"
    )
    e2e.spec("broken", "@exit 3", files=["broken.txt"])
    e2e.spec("fine", "@write fine.txt f", files=["fine.txt"])

    result = e2e.cli("daemon", "--once")

    assert result.returncode == 1, result.stdout + result.stderr
    assert [n["event"] for n in _received(inbox)] == ["task_failed", "run_finished"]
    (cycle,) = _received(daemon_inbox)
    assert cycle["counts"] == {"merged": 1, "failed": 1} and cycle["exit_code"] == 1
