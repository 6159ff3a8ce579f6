"""``coordinator report``, ``run --report``, ``plan --format html`` and the daemon's reports,
through the real CLI on real repositories (the page itself is checked in a browser in
``test_report_browser``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_util import E2EProject, wait_until
from report_run import HOSTILE, IDS, ReportedRun, make_reported_run, report_data

from coordinator.report import KEEP_REPORTS, prune_reports


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> ReportedRun:
    return make_reported_run(tmp_path_factory.mktemp("report") / "repo")


def test_run_report_writes_the_page_beside_the_run_s_logs(reported: ReportedRun) -> None:
    git_dir = reported.project.root / ".git"
    assert reported.report == git_dir / "coordinator" / "runs" / reported.run_id / "report.html"
    data = report_data(reported.report)
    ids = [t["id"] for t in data["tasks"]]
    assert sorted(ids) == sorted(IDS)
    tasks = {t["id"]: t for t in data["tasks"]}
    assert {tasks[i]["state"] for i in ("x", "y", "hostile", "docs")} == {"merged"}
    assert (tasks["crash"]["state"], tasks["after-crash"]["state"]) == ("failed", "skipped")
    assert tasks["y"]["violations"] == ["f.txt"] and tasks["y"]["attempts"] == 2
    assert tasks["x"]["diffstat"].endswith("1 file changed, 1 insertion(+), 1 deletion(-)")
    assert tasks["x"]["summary"] == "wrote f.txt"
    assert tasks["x"]["predicted"] == [["f.txt", "D"]]
    assert any(c.startswith("git show --stat ") for c in tasks["x"]["commands"])
    edges = sorted((ids[a], ids[b]) for a, b in data["dag"]["deps"])
    assert edges == [("crash", "after-crash"), ("x", "docs")]


def test_every_phase_of_a_real_run_is_on_its_bar(reported: ReportedRun) -> None:
    data = report_data(reported.report)
    bars = [b for b in data["bars"] if data["tasks"][b[0]]["id"] == "x"]
    assert len(bars) == 1
    phases = [p[0] for p in bars[0][7]]
    assert phases[:2] == ["worktree", "agent"]
    assert {"collect", "gate", "merge"} <= set(phases)
    y_bars = sorted((b[1], b[5]) for b in data["bars"] if data["tasks"][b[0]]["id"] == "y")
    assert y_bars == [(1, "conflict"), (2, "merged")]
    assert data["lanes"] <= 3  # one lane per slot of `instances = 3`
    stats = data["stats"]
    assert stats["work"] > 0 and 0 < stats["lower_bound"] <= stats["makespan"]
    assert stats["planned_basis"] == "measured"  # the specs give no estimates


def test_agent_text_stays_text(reported: ReportedRun) -> None:
    text = reported.report.read_text(encoding="utf-8")
    assert "<img" not in text and text.count("<script") == 2
    tasks = {t["id"]: t for t in report_data(reported.report)["tasks"]}
    assert tasks["hostile"]["summary"] == HOSTILE


def test_report_command_default_output_and_run_choice(reported: ReportedRun) -> None:
    e2e = reported.project
    again = e2e.cli("report")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == str(reported.report)
    elsewhere = e2e.root.parent / "out" / "r.html"
    chosen = e2e.cli("report", "--run", reported.run_id, "--output", str(elsewhere))
    assert chosen.returncode == 0 and chosen.stdout.strip() == str(elsewhere)
    assert report_data(elsewhere)["run"]["id"] == reported.run_id
    piped = e2e.cli("report", "-o", "-")
    assert piped.returncode == 0 and piped.stdout.startswith("<!DOCTYPE html>")
    blocked = e2e.root.parent / "a-file"
    blocked.write_text("not a directory", encoding="utf-8")
    unwritable = e2e.cli("report", "--output", str(blocked / "r.html"))
    assert unwritable.returncode == 2
    assert unwritable.stderr.startswith(f"error: --output: cannot write {blocked / 'r.html'}")
    unknown = e2e.cli("report", "--run", "20200101-000000-0000")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().startswith("error: --run: no run '20200101-000000-0000'")
    assert reported.run_id in unknown.stderr


def test_report_without_runs_says_so(e2e: E2EProject) -> None:
    result = e2e.cli("report")
    assert result.returncode == 1
    assert "no runs recorded yet" in result.stderr
    assert not list((e2e.root / ".git").glob("coordinator/runs/*/report.html"))


def test_plan_as_html_draws_the_dag_and_the_schedule(e2e: E2EProject) -> None:
    e2e.spec("a", "@write a.txt x", files=["a.txt"], extra="estimate: 30s")
    e2e.spec("b", "@write b.txt x", files=["b.txt"], deps=["a"], extra="estimate: 1m")
    e2e.spec("c", "@write a.txt y", files=["a.txt"], extra="estimate: 10s")
    result = e2e.cli("plan", "--format", "html")
    assert result.returncode == 0, result.stderr
    page = e2e.root.parent / "plan.html"
    page.write_text(result.stdout, encoding="utf-8")
    data = report_data(page)
    assert data["kind"] == "plan"
    ids = [t["id"] for t in data["tasks"]]
    assert sorted(ids) == ["a", "b", "c"]
    assert [(ids[a], ids[b]) for a, b in data["dag"]["deps"]] == [("a", "b")]
    assert [sorted([ids[a], ids[b]]) + p for a, b, p in data["dag"]["conflicts"]] == [
        ["a", "c", "a.txt"]
    ]
    assert data["stats"]["planned_makespan"] == 90.0  # a, then b with c beside it: 30 + 60
    assert sorted(p[0] for p in data["planned"]) == [0, 1, 2]
    assert not (e2e.root / ".git" / "coordinator").exists()  # planning writes nothing


def test_daemon_writes_a_report_per_cycle_that_ran_something(e2e: E2EProject) -> None:
    e2e.spec("a", "@write a.txt x", files=["a.txt"])
    first = e2e.cli("daemon", "--once")
    assert first.returncode == 0, first.stdout + first.stderr
    reports = sorted((e2e.root / ".git").glob("coordinator/runs/*/report.html"))
    assert len(reports) == 1 and f"report: {reports[0]}" in first.stdout
    last = (e2e.root / ".git" / "coordinator" / "daemon-last.json").read_text(encoding="utf-8")
    assert str(reports[0]) in last
    quiet = e2e.cli("daemon", "--once")
    assert quiet.returncode == 0 and "report:" not in quiet.stdout
    assert len(list((e2e.root / ".git").glob("coordinator/runs/*/report.html"))) == 1


def test_only_the_last_fifty_reports_are_kept(tmp_path: Path) -> None:
    runs = tmp_path / "coordinator" / "runs"
    for n in range(KEEP_REPORTS + 5):
        (runs / f"20260101-0000{n:02d}-abcd" / "logs").mkdir(parents=True)
        (runs / f"20260101-0000{n:02d}-abcd" / "report.html").write_text("r", encoding="utf-8")
    removed = prune_reports(tmp_path)
    assert [p.parent.name for p in removed] == [f"20260101-0000{n:02d}-abcd" for n in range(5)]
    left = sorted(p.parent.name for p in runs.glob("*/report.html"))
    assert len(left) == KEEP_REPORTS and left[0] == "20260101-000005-abcd"
    assert len(list(runs.glob("*/logs"))) == KEEP_REPORTS + 5  # logs are not touched


def test_a_report_written_during_a_run_shows_it_running(e2e: E2EProject) -> None:
    barrier = e2e.root.parent / "let-go"
    started = e2e.root.parent / "started"
    e2e.spec("slow", f"@touch {started}\n@wait {barrier} 60\n@write s.txt x", files=["s.txt"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    run = subprocess.Popen(
        [sys.executable, "-m", "coordinator.cli", "run", "--json", "--report"],
        cwd=e2e.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_until("the agent started", started.exists)
        during = e2e.cli("report", "-o", str(e2e.root.parent / "during.html"))
        assert during.returncode == 0, during.stderr
        data = report_data(e2e.root.parent / "during.html")
        assert data["run"]["state"] == "running" and data["run"]["finished_at"] is None
        assert [(b[5], data["tasks"][b[0]]["id"]) for b in data["bars"]] == [("running", "slow")]
    finally:
        barrier.touch()
        out, _ = run.communicate(timeout=120)
    assert run.returncode == 0, out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    reports = [line["path"] for line in lines if line.get("event") == "report"]
    assert len(reports) == 1 and report_data(Path(reports[0]))["run"]["state"] == "finished"
