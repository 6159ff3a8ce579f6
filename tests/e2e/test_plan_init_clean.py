"""`plan`, `validate`, `init`, `clean` and `run --json` through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from e2e_util import E2EProject

PLAN_KEYS = {
    "tasks",
    "conflicts",
    "critical_path",
    "schedule",
    "makespan",
    "sequential",
    "lower_bound",
}
TASK_KEYS = {"id", "agent", "depends_on", "footprint", "priority", "estimate"}
STATUS_TASK_KEYS = {
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
}


def _three_tasks(e2e: E2EProject) -> None:
    e2e.spec("a", "@write a.txt a", files=["a.txt"], extra="estimate: 10s")
    e2e.spec("b", "@write shared.txt b", files=["shared.txt"], deps=["a"], extra="estimate: 20s")
    e2e.spec("c", "Touch `shared.txt`.\n@write shared.txt c", extra="estimate: 5s\npriority: 2")


def test_plan_json_shape_and_values(e2e: E2EProject) -> None:
    _three_tasks(e2e)
    result = e2e.cli("plan", "--format", "json", "--instances", "2")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert set(plan) >= PLAN_KEYS
    assert all(set(t) >= TASK_KEYS for t in plan["tasks"])
    tasks = {t["id"]: t for t in plan["tasks"]}
    assert tasks["b"]["depends_on"] == ["a"]
    assert tasks["c"]["footprint"] == ["shared.txt"]
    assert tasks["c"]["footprint_sources"] == {"shared.txt": "mentioned"}
    assert tasks["a"]["estimate"] == 10.0
    assert plan["conflicts"] == [["b", "c", ["shared.txt"]]]
    assert plan["critical_path"] == ["a", "b"]
    entries = {e["id"]: e for e in plan["schedule"]}
    b, c = entries["b"], entries["c"]
    assert b["end"] <= c["start"] or c["end"] <= b["start"]  # conflicting: never concurrent
    assert entries["a"]["end"] <= b["start"]
    assert plan["sequential"] == 35.0
    assert plan["lower_bound"] <= plan["makespan"] <= plan["sequential"]


def test_plan_text_dot_mermaid(e2e: E2EProject) -> None:
    _three_tasks(e2e)
    text = e2e.cli("plan")
    assert text.returncode == 0
    for needle in ("Tasks (3)", "Conflicts", "Critical path", "Makespan", "speedup", "[M]"):
        assert needle in text.stdout
    dot = e2e.cli("plan", "--format", "dot").stdout
    assert dot.startswith("digraph") and '"a" -> "b"' in dot and "dashed" in dot
    mermaid = e2e.cli("plan", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart LR") and "-.-" in mermaid


def test_plan_text_tables_keep_to_the_limit_and_json_to_one_item_per_line(
    e2e: E2EProject,
) -> None:
    _three_tasks(e2e)
    limited = e2e.cli("plan", "--limit", "1", env={"COLUMNS": "200"}).stdout
    assert "Tasks (3)" in limited and "... and 2 more (--limit 0 shows all" in limited
    everything = e2e.cli("plan", "--limit", "0", env={"COLUMNS": "200"}).stdout
    assert "more (--limit 0" not in everything
    assert all(f"│ {t} " in everything for t in "abc")
    lines = e2e.cli("plan", "--format", "json").stdout.splitlines()
    assert [line.strip() for line in lines[2:5]] == [
        json.dumps(t) + ("," if i < 2 else "")
        for i, t in enumerate(json.loads("\n".join(lines))["tasks"])
    ]


def test_validate_ok_and_init_never_overwrites(e2e: E2EProject) -> None:
    (e2e.root / "coordinator.toml").unlink()
    first = e2e.cli("init")
    assert first.returncode == 0
    assert "wrote coordinator.toml" in first.stdout and "wrote specs/example.md" in first.stdout
    (e2e.root / "coordinator.toml").write_text(
        (e2e.root / "coordinator.toml").read_text() + "# mine\n"
    )
    second = e2e.cli("init")
    assert "kept existing coordinator.toml" in second.stdout
    assert (e2e.root / "coordinator.toml").read_text().endswith("# mine\n")
    exclude = (e2e.root / ".git" / "info" / "exclude").read_text()
    assert exclude.splitlines().count("/worktrees/") == 1
    valid = e2e.cli("validate")
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout == "ok: 1 task; no footprint overlaps\n"
    run = e2e.cli("run")
    assert run.returncode == 0, run.stdout + run.stderr
    assert e2e.git("show", "coordinator/integration:hello.txt").startswith("Hello")


def test_clean_removes_merged_keeps_failed_until_all_force(e2e: E2EProject) -> None:
    e2e.spec("ok", "@write ok.txt ok", files=["ok.txt"])
    e2e.spec("bad", "@write bad.txt half\n@exit 2", files=["bad.txt"])
    assert e2e.cli("run").returncode == 1
    tasks = e2e.tasks()
    failed_branch = tasks["bad"]["branch"]
    cleaned = e2e.cli("clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert "deleted branch coordinator/task/ok" in cleaned.stdout
    assert f"kept unmerged branch {failed_branch}" in cleaned.stdout
    assert not Path(tasks["ok"]["worktree"]).exists()
    assert e2e.git("rev-parse", "--verify", "-q", failed_branch).strip()
    refused = e2e.cli("clean", "--all")
    assert refused.returncode == 2
    assert e2e.cli("clean", "--all", "--force").returncode == 0
    assert e2e.git("branch", "--list", "coordinator/failed/*").strip() == ""
    assert "worktrees" not in e2e.git("worktree", "list")


def test_clean_knows_other_targets_and_leaves_unknown_directories(e2e: E2EProject) -> None:
    e2e.spec("elsewhere", "@write e.txt e", files=["e.txt"])
    assert e2e.cli("run", "--target", "agents/work").returncode == 0
    junk = e2e.root / "worktrees" / "junk"
    junk.mkdir(parents=True)
    (junk / "notes.txt").write_text("mine\n")
    default = e2e.cli("clean")
    assert "kept unmerged branch coordinator/task/elsewhere" in default.stdout
    cleaned = e2e.cli("clean", "--target", "agents/work")
    assert cleaned.returncode == 0, cleaned.stderr
    assert "deleted branch coordinator/task/elsewhere" in cleaned.stdout
    assert "left worktrees/junk in place: not a worktree git knows" in cleaned.stdout
    assert (junk / "notes.txt").read_text() == "mine\n"
    bad = e2e.cli("clean", "--target", "-oops")
    assert bad.returncode == 2 and "--target" in bad.stderr


def test_run_json_lines_and_status_during_run(e2e: E2EProject, tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    e2e.spec("wait", f"@touch {started}\n@wait {release} 60\n@write w.txt w", files=["w.txt"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "coordinator.cli", "run", "--json"],
        cwd=e2e.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 30
    while not started.exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    live = e2e.status()
    assert live["state"] == "running"
    assert set(live["tasks"][0]) >= STATUS_TASK_KEYS
    assert live["tasks"][0]["state"] == "running"
    assert live["tasks"][0]["started_at"].endswith("Z")
    release.touch()
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    events = [json.loads(line) for line in out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run-started" and kinds[-1] == "summary"
    assert {"started", "finished", "merged"} <= set(kinds)
    assert events[-1]["counts"] == {"merged": 1}
    done = e2e.status()
    assert done["state"] == "finished"
    assert (
        done["tasks"][0]["merge_commit"] == e2e.git("rev-parse", "coordinator/integration").strip()
    )
