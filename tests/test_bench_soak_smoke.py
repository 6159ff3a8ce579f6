"""``scripts/bench soak`` still works: the whole soak at a tiny size, every check included.

Not a performance test (timing goals belong to the benchmark): what it proves is that the soak
still runs end to end (agents of every misbehaving kind, a coordinator killed and run again)
and that its checks still hold, so the benchmark cannot rot and a recovery bug it would find
shows up here too. One kill at a seeded moment: the seed is fixed, the moment is not (it
depends on how fast merges come), so each run of this test crashes the coordinator somewhere
a little different.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import soak_bench

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--json", "--tasks", "10", "--baseline", "5", "--kills", "1", "--misbehave", "0.5",
        "--max-s", "0.3", "--spew", "2000000"]  # fmt: skip


def _run_tiny() -> tuple[int, dict[str, Any], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak_bench", *TINY],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, data, proc.stderr[-3000:]


@pytest.mark.slow
def test_soak_at_a_tiny_size_holds_every_check() -> None:
    code, result, err = _run_tiny()
    assert result, err
    soak, baseline = result["soak"], result["baseline"]
    problems = soak["checks"]["problems"] + baseline["checks"]["problems"]
    assert code == 0 and result["ok"], problems or err
    assert soak["tasks"] == 10 and baseline["tasks"] == 5
    assert soak["behaviours"] == {"good": 5, "hang": 1, "crash": 1, "spew": 1, "fork": 1,
                                  "outside": 1}  # fmt: skip
    assert soak["kills"] == 1 and len(soak["runs"]) == 2  # killed once, then ran to its end
    assert soak["runs"][-1]["exit"] == 1  # the misbehaving tasks failed
    assert soak["checks"]["merged"] == 7  # good, spew and fork land
    assert soak["checks"]["failed"] == 3
    assert soak["leftovers"] == []
    for s in (soak, baseline):
        assert 0 < s["cpu_ms_per_task"] < 60_000
        assert s["phases_ms_per_task"]["n"] >= 1
    assert 0 < result["cpu_ratio"] < 100
    assert result["goal_ratio"] == soak_bench.GOAL_RATIO == 1.2


def test_behaviours_and_kill_moments_are_seeded() -> None:
    """The same seed gives the same soak; every misbehaving kind is used in turn."""
    sizes = soak_bench.QUICK
    first = soak_bench.behaviours(sizes, 100)
    assert first == soak_bench.behaviours(sizes, 100)
    bad = [b for b in first.values() if b != "good"]
    assert len(bad) == 5 and sorted(bad) == sorted(soak_bench.KINDS)
    plan = soak_bench.kill_plan(sizes, 95, 2)
    assert plan == soak_bench.kill_plan(sizes, 95, 2)
    assert len(plan) == 2 and plan[0][0] < plan[1][0] < 95
    assert all(0 <= delay <= 1 for _, delay in plan)
    assert soak_bench.kill_plan(sizes, 95, 0) == []
