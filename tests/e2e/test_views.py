"""What `tasks`, `plan`, `status` and `validate` show a person, through the real CLI (issue 11,
items 4, 5, 6, 8, 9 and 12)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from e2e_util import FAKE_CONFIG, E2EProject

TARGET = "coordinator/integration"


def _ok(e2e: E2EProject, *args: str, env: dict[str, str] | None = None) -> str:
    result = e2e.cli(*args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _tasks(e2e: E2EProject) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_ok(e2e, "tasks", "--json"))
    return data


def _mixed_history(e2e: E2EProject) -> None:
    """merged, changed since it landed, failed, skipped behind it, reverted, never run."""
    e2e.spec("kept", "@write kept.txt k", files=["kept.txt"])
    e2e.spec("edited", "@write edited.txt e", files=["edited.txt"])
    e2e.spec("undone", "@write undone.txt u", files=["undone.txt"])
    e2e.spec("broken", "@write broken.txt b\n@exit 3", files=["broken.txt"])
    e2e.spec("after", "@write after.txt a", files=["after.txt"], deps=["broken"])
    e2e.spec("fresh", "@write fresh.txt f", files=["kept.txt", "fresh.txt"])
    first = e2e.cli("run", "--only", "kept", "edited", "undone", "broken", "after")
    assert first.returncode == 1, first.stdout + first.stderr
    _ok(e2e, "revert", "undone")
    e2e.spec("edited", "@write edited.txt e2", files=["edited.txt"])


def test_tasks_shows_every_spec_across_runs(e2e: E2EProject) -> None:
    _mixed_history(e2e)
    data = _tasks(e2e)
    states = {t["id"]: t["state"] for t in data["tasks"]}
    assert states == {"after": "skipped", "broken": "failed", "edited": "changed",
                      "fresh": "never-run", "kept": "merged", "undone": "reverted"}  # fmt: skip
    by_id = {t["id"]: t for t in data["tasks"]}
    merge = e2e.git("log", "-1", "--format=%H", "--grep=Coordinator-Task: kept", TARGET).strip()
    assert by_id["kept"]["commit"] == merge and not by_id["kept"]["changed_since_landed"]
    assert by_id["edited"]["changed_since_landed"] is True
    assert by_id["edited"]["landed_digest"] != by_id["edited"]["spec_digest"]
    assert by_id["broken"]["branch"].startswith("coordinator/failed/")
    assert by_id["broken"]["log"].endswith("/logs/broken.log")
    assert by_id["fresh"]["run_id"] is None and by_id["fresh"]["commit"] is None
    assert data["counts"] == {"merged": 1, "changed": 1, "reverted": 1, "failed": 1,
                              "skipped": 1, "never-run": 1}  # fmt: skip
    text = _ok(e2e, "tasks")
    assert text.startswith(f"6 tasks on {TARGET}: 1 merged, 1 changed, 1 reverted, 1 failed")
    assert re.search(r"kept\s+│ fake\s+│ merged\s+│ " + merge[:12], text), text
    assert "spec changed since it landed" in text
    broken = by_id["broken"]
    assert f"broken (failed): branch {broken['branch']}, log .git/coordinator/runs/" in text
    # status (one run) ends with the same count across runs
    assert "across runs: 6 tasks on coordinator/integration: 1 merged" in _ok(e2e, "status")


def test_plan_schedules_only_what_is_left(e2e: E2EProject) -> None:
    _mixed_history(e2e)
    plan = json.loads(_ok(e2e, "plan", "--format", "json"))
    assert [t["id"] for t in plan["tasks"]] == ["broken", "after", "fresh"]
    assert plan["already_merged"] == ["edited", "kept"] and plan["reverted"] == ["undone"]
    assert plan["conflicts"] == []  # fresh overlaps kept.txt with kept, which landed
    text = _ok(e2e, "plan")
    assert text.startswith(f"2 of 6 tasks already merged into {TARGET}; planning the 3 left")
    everything = json.loads(_ok(e2e, "plan", "--all", "--format", "json"))
    assert len(everything["tasks"]) == 6
    assert everything["conflicts"] == [["fresh", "kept", ["kept.txt"]]]


def test_run_only_says_what_is_merged_and_what_is_not(e2e: E2EProject) -> None:
    _mixed_history(e2e)
    again = e2e.cli("run", "--only", "kept")
    assert again.returncode == 0, again.stderr
    assert again.stdout == (
        f"nothing to do: kept is already merged into {TARGET}; 4 other tasks are not merged "
        "(1 reverted: undone; 1 failed: broken; 1 skipped: after; 1 never run: fresh)\n"
    )


def test_nothing_left_to_plan_or_run(e2e: E2EProject) -> None:
    e2e.spec("one", "@write one.txt 1", files=["one.txt"])
    _ok(e2e, "run")
    assert _ok(e2e, "plan") == (
        f"nothing left to plan: the 1 task is merged into {TARGET} (plan --all plans every task)\n"
    )
    assert _ok(e2e, "run") == f"nothing to do: the 1 task is already merged into {TARGET}\n"


def test_repo_option_before_or_after_the_command(e2e: E2EProject, tmp_path: Path) -> None:
    e2e.spec("one", "@write one.txt 1", files=["one.txt"])
    _ok(e2e, "run")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    repo = str(e2e.root)
    for args in (("-C", repo, "status", "--json"), ("status", "--json", "-C", repo),
                 ("--repo", repo, "status", "--json")):  # fmt: skip
        result = _in(elsewhere, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert json.loads(result.stdout)["tasks"][0]["id"] == "one"
    # after the command wins over before it, as the nearer one
    wrong = _in(elsewhere, "-C", str(elsewhere), "tasks", "--json", "-C", str(e2e.root))
    assert wrong.returncode == 0 and json.loads(wrong.stdout)["tasks"][0]["state"] == "merged"
    missing = _in(elsewhere, "-C", str(tmp_path / "none"), "plan")
    assert missing.returncode == 2 and "no such directory" in missing.stderr


def _in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI started in ``cwd`` (not the repository)."""
    return subprocess.run([sys.executable, "-m", "coordinator.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def test_dot_labels_escape_the_newline_once(e2e: E2EProject) -> None:
    """Graphviz reads a label's backslash-n as a line break and a doubled backslash as one:
    the newline is escaped once, a real backslash (in an agent name) doubled once."""
    e2e.config(FAKE_CONFIG + '\n[agents."odd\\\\agent"]\ncommand = ["{python}", "-c", "1"]\n')
    e2e.spec("core-errors", "x", files=["a.txt"])
    e2e.spec("b", "y", files=["a.txt"], agent="odd\\agent")
    dot = _ok(e2e, "plan", "--format", "dot")
    assert '"core-errors" [label="core-errors\\n(fake)"' in dot, dot
    assert '"b" [label="b\\n(odd\\\\agent)"' in dot, dot
    assert "\\\\n" not in dot  # never a doubled escape of the newline


def test_piped_plan_keeps_ids_whole_and_status_keeps_log_paths_whole(e2e: E2EProject) -> None:
    long_ids = ["core-errors-handling", "database-migrations", "http-client-retries"]
    for i, task_id in enumerate(long_ids):
        deps = [long_ids[i - 1]] if i else []
        e2e.spec(task_id, f"@write {task_id}.txt x\n" + ("@exit 3" if i == 1 else ""),
                 files=[f"src/{task_id}/module.py", "shared/settings.py"], deps=deps)  # fmt: skip
    for columns in ("80", "160"):
        plan = _ok(e2e, "plan", env={"COLUMNS": columns})
        for task_id in long_ids:
            assert re.search(rf"│ {task_id}\s", plan), (columns, plan)
    result = e2e.cli("run", env={"COLUMNS": "160"})
    assert result.returncode == 1
    data = e2e.status()
    failed = next(t for t in data["tasks"] if t["state"] == "failed")
    rel_log = str(Path(failed["log"]).relative_to(e2e.root))
    for columns in ("80", "160"):
        status = _ok(e2e, "status", env={"COLUMNS": columns})
        assert f"log {rel_log}" in status, status  # the whole path, on one line
        assert f"branch {failed['branch']}" in status
        row = r"│ database-migrations\s+│ fake\s+│ failed\s+│ 1\s+│\s+│ exit code 3"
        assert re.search(row, status), status


def test_validate_json_conflicts_help_estimates_and_plurals(e2e: E2EProject) -> None:
    e2e.spec("a", "@write a.txt a", files=["a.txt"], extra="estimate: 2m")
    e2e.spec("b", "@write a.txt b", files=["a.txt"])
    e2e.spec("c", "no paths at all", extra="footprint: declared")
    assert _ok(e2e, "validate") == "ok: 3 tasks; 3 pairs will not run at the same time " \
        "(footprint overlaps)\n"  # fmt: skip
    plan = json.loads(_ok(e2e, "plan", "--format", "json"))
    assert plan["conflicts"] == [["a", "b", ["a.txt"]],
                                 ["a", "c", ["(unknown footprint: exclusive)"]],
                                 ["b", "c", ["(unknown footprint: exclusive)"]]]  # fmt: skip
    assert plan["unknown_footprint_conflicts"] == [
        {"a": "a", "b": "c", "unknown_footprint": ["c"]},
        {"a": "b", "b": "c", "unknown_footprint": ["c"]},
    ]
    missing = "2 tasks have no estimate (b, c): the simulated schedule assumes 2m00s for each"
    assert missing in plan["warnings"]
    assert f"warning: {missing}" in _ok(e2e, "plan", env={"COLUMNS": "200"})
    help_text = " ".join(_ok(e2e, "status", "--help").split())
    assert "The documented JSON object" not in help_text
    assert "run_id, state, started_at" in help_text and "merge_commit" in help_text
    e2e.write("specs/b.md", "---\nid: b\nagent: fake\nfiles: [b.txt]\n---\n@write b.txt b\n")
    e2e.write("specs/c.md", "---\nid: c\nagent: fake\nfiles: [c.txt]\n---\n@write c.txt c\n")
    only = _ok(e2e, "validate")
    assert only == "ok: 3 tasks; no footprint overlaps\n"
    run = _ok(e2e, "run", "--only", "a")
    assert run.startswith("run ") and ": 1 task, merging into" in run.splitlines()[0]
    assert "merged 1 of 1 task into" in run
