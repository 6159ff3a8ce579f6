"""The benchmarks in quick mode: they run, their figures hang together, ``scripts/bench`` works.

Not a performance test: the sizes are tiny. It checks what must hold on any machine: every
strategy is at least the lower bound, the best known is the best, ours (exact estimates) never
loses to the default order or spec order it was chosen against, and the JSON has every figure
the tables show.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import plan_bench, schedule_bench, schedule_report  # noqa: E402
from benchmarks.families import GENERATED  # noqa: E402


def test_schedule_bench_quick(capsys: pytest.CaptureFixture[str]) -> None:
    assert schedule_bench.main(["--quick", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = result["instances"]
    families = {row["family"] for row in rows}
    assert set(GENERATED) <= families  # git too when the checkout has history
    for row in rows:
        made = row["makespan"]
        assert set(made) == set(schedule_report.STRATEGIES)
        assert row["simple_lb"] <= row["lb"] * (1 + 1e-9)
        assert row["best_known"] <= min(made.values())
        for name, value in made.items():
            assert value >= row["lb"] * (1 - 1e-9), name
        assert made["ours"] <= made["cp"] * (1 + 1e-9)  # chosen on these very durations
        assert made["ours"] <= made["fifo"] * (1 + 1e-9)
        # exact estimates: nothing parts from them, so re-planning changes nothing
        assert made["ours"] == made["ours0"]
        # the target: no other strategy ahead of ours by more than 1% on any instance
        rivals = [v for k, v in made.items() if k != "ours" and not k.endswith("~")]
        assert made["ours"] <= min(rivals) * 1.01, (row["family"], row["n"], made)
    assert {(e["family"], e["n"]) for e in result["summary"]} == {
        (r["family"], r["n"]) for r in rows
    }
    assert "ours_beaten" in result["summary"][0]
    margin = result["summary"][0]["ours~_mean_margin"]
    assert margin["rival"] in schedule_report.RIVALS["ours~"] and margin["margin"] > -1
    assert all(e["ours_beaten"]["over_1pct"] == 0 for e in result["summary"])


def test_schedule_bench_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert schedule_bench.main(["--quick", "--family", "fan", "--count", "1"]) == 0
    out = capsys.readouterr().out
    assert "| fan | 2 |" in out and "makespan / tight lower bound" in out
    assert "robustness to wrong estimates" in out and "goal at N = 3" in out


def test_plan_bench_quick(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan_bench.main(["--quick", "--json", "--cli", "--sizes", "200"]) == 0
    result = json.loads(capsys.readouterr().out)
    sizes = result["sizes"]
    assert [s["tasks"] for s in sizes] == [200]
    assert [c["tasks"] for c in result["commands"]] == [200]
    assert set(result["commands"][0]["seconds"]) == set(plan_bench.CLI_COMMANDS)
    for s in sizes:
        assert set(s["seconds"]) == {"parse", "plan", "rank", "simulate", "conflicts"}
        assert s["conflicts"] > 0
        assert s["total_seconds"] > 0 and s["peak_rss_mb"] > 0
        assert s["makespan_over_lb"] >= 1 - 1e-9


def test_launcher_dispatches() -> None:
    bench = ROOT / "scripts" / "bench"
    out = subprocess.run(
        [str(bench), "schedule", "--quick", "--family", "independent", "--count", "1", "--json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert json.loads(out)["summary"][0]["family"] == "independent"
    wrong = subprocess.run([str(bench), "nonsense"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "usage" in wrong.stderr


def test_gitcost_bench_counts_git_work_per_phase() -> None:
    bench = ROOT / "scripts" / "bench"
    argv = [str(bench), "gitcost", "--files", "200", "--cycles", "2", "--json"]
    run = json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)
    [result] = run["runs"]
    assert result["files"] == 200 and result["cycles"] == 2
    for phase in ("worktree", "commit", "merge", "pool"):
        assert result[phase]["git_processes"] >= 1 and result[phase]["git_cpu_ms"] >= 0
    assert result["worktree"]["git_processes"] <= 6  # a warm take, not a fresh add and more
