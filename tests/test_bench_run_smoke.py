"""``scripts/bench run`` still works: every benchmark of ``benchmarks/run_bench.py`` at tiny sizes.

Why a smoke test and not a performance test: absolute times on a shared CI machine are noise,
so the bounds here are generous sanity checks (finite, positive, the right order of magnitude).
What it does catch is a benchmark that no longer runs, or a JSON document whose keys changed
under the scripts that read it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--quick", "--json", "--tasks", "2", "--sleep", "0.2", "--overhead-tasks", "2",
    "--small-files", "5", "--big-files", "300", "--reps", "1", "--merges", "3",
    "--markers", "3", "--window", "0.5", "--gate", "0.2",
]  # fmt: skip
COST_PHASES = ("worktree", "start", "commit", "merge", "store")


def _numbers(node: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every number in the document with its dotted key path (booleans are not numbers)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _numbers(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _numbers(value, f"{path}[{i}]")
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield path, float(node)


def _positive(value: Any, upper: float = math.inf) -> bool:
    return isinstance(value, int | float) and 0 < value < upper


def _run_tiny() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run_bench", *TINY],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


@pytest.mark.slow
def test_run_bench_quick_json_at_tiny_sizes() -> None:
    """One run of the benchmark (a single test, so parallel workers never repeat it)."""
    result = _run_tiny()
    _check_document(result)
    _check_numbers(result)
    _check_parallel(result)
    _check_overhead(result)
    _check_worktree(result)
    _check_detect_and_merge(result)
    _check_linger_and_gate(result)


def _check_document(result: dict[str, Any]) -> None:
    families = {"machine", "sizes", "parallel", "overhead", "worktree", "detect", "merge"}
    assert families | {"linger", "gate"} <= set(result)
    machine = result["machine"]
    assert machine["nproc"] >= 1
    assert machine["python"] and machine["git"]
    assert _positive(result["total_s"], 600)


def _check_numbers(result: dict[str, Any]) -> None:
    for path, value in _numbers(result):
        assert math.isfinite(value), path
        if not path.endswith("_saving_ms"):  # a faster method can lose to noise at 1 rep
            assert value >= 0, path


def _check_parallel(result: dict[str, Any]) -> None:
    par = result["parallel"]
    assert par["tasks"] == 2
    assert par["sum_s"] == pytest.approx(0.4)
    for key in ("wall_s", "engine_wall_s", "ratio_to_ideal", "engine_ratio_to_ideal"):
        assert _positive(par["instances_3"][key], 300), key
    for key in ("wall_s", "engine_wall_s", "ratio_to_sum", "engine_ratio_to_sum"):
        assert _positive(par["instances_1"][key], 300), key
    # No run can beat the sleeping itself: at least one agent sleeps in every slot.
    assert par["instances_3"]["engine_wall_s"] >= par["sleep_s"]
    assert _positive(par["speedup"], 10)


def _check_overhead(result: dict[str, Any]) -> None:
    for size, files in (("small", 5), ("large", 300), ("large_sparse", 300)):
        data = result["overhead"][size]
        assert data["files"] == files
        for phase in COST_PHASES:
            stats = data["phases_ms"][phase]
            assert stats["n"] == 2, (size, phase)
            assert _positive(stats["median"], 60_000), (size, phase)
            assert stats["p95"] >= stats["median"]
        assert _positive(data["total_ms"]["median"], 60_000)
        assert data["phases_ms"]["detect"]["median"] is not None
        assert _positive(data["merges_per_s"])
    assert result["overhead"]["goal_ms"] == 100
    assert result["overhead"]["goal_huge_ms"] == 250
    assert result["overhead"]["huge"] is None  # --quick: no 100,000-file repository


def _check_worktree(result: dict[str, Any]) -> None:
    wt = result["worktree"]
    methods = wt["methods"]
    assert set(methods) == {"full", "sparse", "no-checkout", "reuse"}
    assert methods["full"]["files_checked_out"] == wt["files"] == 300
    assert methods["sparse"]["files_checked_out"] == 1  # only the footprint
    assert methods["no-checkout"]["files_checked_out"] == 0
    for name, data in methods.items():
        assert _positive(data["add_ms"]["median"], 60_000), name
    for name in ("full", "sparse", "reuse"):
        assert _positive(methods[name]["commit_ms"]["median"], 60_000), name
        assert _positive(methods[name]["add_plus_commit_ms"], 120_000), name


def _check_detect_and_merge(result: dict[str, Any]) -> None:
    detect = result["detect"]
    assert detect["poll_1s_ms"]["n"] == 3
    assert _positive(detect["poll_1s_ms"]["median"], 5_000)
    assert detect["watcher_ms"]["n"] == 3
    assert detect["watcher_ms"]["median"] < 5_000
    assert detect["poll_1s_analytic_ms"]["median"] == 500
    for key in ("engine_small_ms", "engine_large_ms"):
        assert detect[key]["n"] >= 1, key
    merge = result["merge"]
    assert merge["merges"] == 3
    assert _positive(merge["ms"]["median"], 60_000)
    assert _positive(merge["merges_per_s"])


def _check_linger_and_gate(result: dict[str, Any]) -> None:
    linger = result["linger"]
    assert linger["tasks"] == 2
    assert linger["goal_ratio"] == 1.10
    for key in ("wall_s", "engine_wall_s", "ratio_to_ideal", "engine_ratio_to_ideal"):
        assert _positive(linger[key], 300), key
    # Agents that stay alive after their marker are stopped at once, not after the 5 s grace.
    assert linger["engine_wall_s"] < 2 * 5.0
    assert linger["detect_ms"]["n"] == 2
    gate = result["gate"]
    assert (gate["tasks"], gate["gate_s"]) == (2, 0.2)
    for key in ("wall_s", "engine_wall_s", "no_gate_wall_s", "ratio_to_no_gate", "agent_s"):
        assert _positive(gate[key], 300), key
    assert gate["engine_wall_s"] >= gate["lane_floor_s"]  # gates run one at a time
    assert 1 <= gate["max_parallel"] <= 3
