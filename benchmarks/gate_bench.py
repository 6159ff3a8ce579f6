"""``scripts/bench gate``: the merge queue's speculative, parallel gate (issue 12).

* **throughput**: N agents of S seconds with disjoint files at ``--instances 3``, with a gate of
  G seconds on every merge against the same run without one. Goal: wall within 1.25x.
* **bisection**: the same agents at ``[merge] batch = 4``, one of which writes ``bad.txt``, which
  the gate refuses. Goal: exactly that task fails, every other lands, and the gate runs at most
  ``2*log2(batch)+2`` more times than in the same run without the bad task.

All figures come from one invocation; gate runs are counted by the gate itself (a line per run).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import bench_parser, emit, markdown_table
from benchmarks.run_bench import SCRIPTED, bench_env, log, make_repo, specs, task_ids
from coordinator.io.runfiles import store_path
from coordinator.io.store import Store

INSTANCES = 3
RATIO_GOAL = 1.25
BATCH = 4


def _gate(seconds: float, count: Path) -> list[str]:
    script = (
        "import pathlib, sys, time\n"
        "with open(sys.argv[1], 'a') as out: out.write('run\\n')\n"
        "time.sleep(float(sys.argv[2]))\n"
        "sys.exit(1 if pathlib.Path('bad.txt').exists() else 0)\n"
    )
    return [sys.executable, "-c", script, str(count), f"{seconds:g}"]


def _config(verify: list[str] | None, batch: int) -> str:
    command = json.dumps(["{python}", str(SCRIPTED), "{prompt_file}"])
    text = (
        f'instances = {INSTANCES}\ngrace = "2s"\nfootprint = "declared"\n\n'
        f'[agents.fake]\ncommand = {command}\ntimeout = "600s"\n'
    )
    if verify:
        text += f"\n[merge]\nverify = {json.dumps(verify)}\nbatch = {batch}\n"
    return text


def _run(
    root: Path, tasks: int, sleep: float, gate: float | None, *, batch: int = 1, bad: str = ""
) -> dict[str, Any]:
    bodies = {}
    for t in task_ids(tasks):
        extra = "@write bad.txt bad\n" if t == bad else ""
        bodies[t] = f"@sleep {sleep}\n{extra}@write out/{t}.txt done\n@marker done"
    count = root.parent / f"{root.name}.gate-runs"
    verify = _gate(gate, count) if gate is not None else None
    make_repo(root, 50, {"coordinator.toml": _config(verify, batch), **specs(bodies)})
    argv = [sys.executable, "-m", "coordinator.cli", "run", "--instances", str(INSTANCES)]
    started = time.perf_counter()
    proc = subprocess.run(
        argv, cwd=root, capture_output=True, text=True, env=bench_env(), timeout=1800, check=False
    )
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"run exited {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr}")
    with Store.open_readonly(store_path(root / ".git")) as store:
        run_id = store.last_run_id()
        assert run_id is not None
        states = {t.task_id: t.state for t in store.tasks(run_id)}
    runs = len(count.read_text().split()) if count.exists() else 0
    return {
        "wall_s": wall,
        "merged": sum(1 for s in states.values() if s == "merged"),
        "failed": sorted(t for t, s in states.items() if s != "merged"),
        "gate_runs": runs,
    }


def measure(work: Path, tasks: int, sleep: float, gate: float) -> dict[str, Any]:
    log(f"gate: {tasks} tasks x {sleep:g} s, --instances {INSTANCES}, no gate")
    plain = _run(work / "plain", tasks, sleep, None)
    log(f"gate: the same with a {gate:g} s gate")
    gated = _run(work / "gated", tasks, sleep, gate)
    log(f"gate: batch = {BATCH}, every task good")
    good = _run(work / "good", tasks, sleep, gate, batch=BATCH)
    bad = task_ids(tasks)[tasks // 2]
    log(f"gate: batch = {BATCH}, {bad} fails the gate")
    failing = _run(work / "bad", tasks, sleep, gate, batch=BATCH, bad=bad)
    extra = failing["gate_runs"] - good["gate_runs"]
    bound = 2 * math.log2(BATCH) + 2
    return {
        "tasks": tasks,
        "sleep_s": sleep,
        "gate_s": gate,
        "no_gate": plain,
        "gate": gated,
        "ratio": gated["wall_s"] / plain["wall_s"],
        "ratio_goal": RATIO_GOAL,
        "batch_good": good,
        "batch_bad": failing,
        "bad_task": bad,
        "exactly_bad_failed": failing["failed"] == [bad] and failing["merged"] == tasks - 1,
        "extra_gate_runs": extra,
        "extra_bound": bound,
    }


def render(r: dict[str, Any]) -> str:
    ratio_ok = "met" if r["ratio"] <= r["ratio_goal"] else "MISSED"
    bis_ok = (
        "met" if r["exactly_bad_failed"] and r["extra_gate_runs"] <= r["extra_bound"] else "MISSED"
    )
    rows = [
        ["no gate", f"{r['no_gate']['wall_s']:.1f}", r["no_gate"]["merged"], 0],
        ["gate", f"{r['gate']['wall_s']:.1f}", r["gate"]["merged"], r["gate"]["gate_runs"]],
        [f"batch {BATCH}", f"{r['batch_good']['wall_s']:.1f}", r["batch_good"]["merged"],
         r["batch_good"]["gate_runs"]],
        [f"batch {BATCH}, {r['bad_task']} bad", f"{r['batch_bad']['wall_s']:.1f}",
         r["batch_bad"]["merged"], r["batch_bad"]["gate_runs"]],
    ]  # fmt: skip
    lines = [
        f"### gate: {r['tasks']} tasks x {r['sleep_s']:g} s, a {r['gate_s']:g} s gate, "
        f"--instances {INSTANCES}",
        "",
        markdown_table(["run", "wall s", "merged", "gate runs"], rows),
        "",
        f"gate / no gate: x{r['ratio']:.2f} (goal <= {r['ratio_goal']}: {ratio_ok})",
        f"failing batch: failed {r['batch_bad']['failed']}, extra gate runs "
        f"{r['extra_gate_runs']} (goal <= {r['extra_bound']:g}, exactly the bad task fails: "
        f"{bis_ok})",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = bench_parser("scripts/bench gate", __doc__, "12 tasks of 0.5 s, a 0.5 s gate")
    parser.add_argument("--tasks", type=int)
    parser.add_argument("--sleep", type=float)
    parser.add_argument("--gate", type=float)
    args = parser.parse_args(argv)
    tasks = args.tasks or (12 if args.quick else 30)
    sleep = args.sleep or (0.5 if args.quick else 2.0)
    gate = args.gate or (0.5 if args.quick else 2.0)
    work = Path(tempfile.mkdtemp(prefix="coordinator-bench-gate-"))
    try:
        result = measure(work, tasks, sleep, gate)
        emit(result, render(result), args.json)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0
