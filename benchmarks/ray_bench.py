"""``scripts/bench run --executor ray``: what running each agent on a Ray node costs, against
running it on this machine, on the same workload.

The workload: N tasks on a small repository whose agents write one file and mark done at
once, run by the real CLI with ``--instances I``, first with ``executor = "local"``, then with
``executor = "ray"`` against a local Ray cluster started here (``ray.cluster_utils.Cluster``:
a head and one node offering ``agent:fake``). A task's latency is read from the run's store:
from the moment it was started to the moment its agent's work was over on this machine
(``finished_at - started_at``); for Ray that includes shipping the base bundle, the clone on
the node, streaming the result back and fetching it. The figure that matters is the median
difference per task (goal: under 300 ms), taken after each run's first wave of tasks: Ray
starts a worker process per slot for every new driver, which the first tasks of a run wait
for (printed too, as the plain median and p95). Two Ray runs are made on the cluster; the
second is the one compared.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import bench_parser, emit, markdown_table
from benchmarks.run_bench import SCRIPTED, bench_env, git, stats
from coordinator.io.runfiles import store_path
from coordinator.io.store import Store

GOAL_MS = 300.0
STORE_BYTES = 100 * 1024**2


def _project(root: Path, tasks: int, files: int, executor: str, address: str) -> None:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for i in range(files):
        path = root / "src" / f"m{i % 20}" / f"f{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {i}\n", encoding="utf-8")
    (root / "specs").mkdir()
    for i in range(tasks):
        (root / "specs" / f"t{i}.md").write_text(
            f"---\nid: t{i}\nagent: fake\nfiles: [out/t{i}.txt]\n---\n"
            f"@write out/t{i}.txt {i}\n@marker done\n",
            encoding="utf-8",
        )
    ray = f'executor = "ray"\n[ray]\naddress = "{address}"\n' if executor == "ray" else ""
    (root / "coordinator.toml").write_text(
        f'grace = "1s"\n{ray}\n[agents.fake]\n'
        f'command = ["{{python}}", "{SCRIPTED}", "{{prompt_file}}"]\n',
        encoding="utf-8",
    )
    git(root, "add", "-A")
    git(root, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "initial")


def _run(root: Path, instances: int) -> dict[str, Any]:
    argv = [sys.executable, "-m", "coordinator.cli", "run", "--instances", str(instances)]
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=root, capture_output=True, text=True, env=bench_env(),
                          timeout=900, check=False)  # fmt: skip
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"run exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-3000:]}")  # fmt: skip
    with Store.open_readonly(store_path(root / ".git")) as store:
        run_id = store.last_run_id()
        assert run_id is not None
        tasks = store.tasks(run_id)
        timings = [e.data.get("phases_ms", {}) for e in store.events(run_id) if e.kind == "timing"]
    ran = sorted((t.started_at, (t.finished_at - t.started_at) * 1000) for t in tasks
                 if t.finished_at is not None and t.started_at is not None)  # fmt: skip
    latency = [ms for _, ms in ran]
    merged = sum(1 for t in tasks if t.state == "merged")
    # Ray starts a worker process per slot for each new driver (each `run`): the first wave
    # of a run pays for it, the later tasks show the steady cost per task.
    steady = latency[instances:]
    # Where the Ray path's time goes (``timing`` events: ray_* here, node_* on the node).
    names = sorted({k for t in timings for k in t if k.startswith(("ray_", "node_"))})
    ray_phases = {k: statistics.median(float(t.get(k, 0.0)) for t in timings) for k in names}
    return {"wall_s": wall, "merged": merged, "latency_ms": stats(latency),
            "steady_ms": stats(steady), "ray_phases_ms": ray_phases}  # fmt: skip


def measure(tasks: int, files: int, instances: int, work: Path) -> dict[str, Any]:
    from ray.cluster_utils import Cluster  # noqa: PLC0415 - the ray extra

    local = work / "local"
    _project(local, tasks, files, "local", "")
    result: dict[str, Any] = {"tasks": tasks, "files": files, "instances": instances}
    result["local"] = _run(local, instances)
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "object_store_memory": STORE_BYTES, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1, resources={"agent:fake": instances},
                         object_store_memory=STORE_BYTES)  # fmt: skip
        cluster.wait_for_nodes()
        for name in ("ray_first_run", "ray"):
            root = work / name
            _project(root, tasks, files, "ray", cluster.address)
            result[name] = _run(root, instances)
    finally:
        cluster.shutdown()  # type: ignore[no-untyped-call]
    local_ms = result["local"]["steady_ms"]["median"]
    ray_ms = result["ray"]["steady_ms"]["median"]
    result["extra_ms_per_task"] = ray_ms - local_ms
    result["extra_wall_ms_per_task"] = (
        (result["ray"]["wall_s"] - result["local"]["wall_s"]) * 1000 / tasks
    )
    result["goal_ms"] = GOAL_MS
    return result


def render(result: dict[str, Any]) -> str:
    rows = []
    for name in ("local", "ray_first_run", "ray"):
        run = result[name]
        lat = run["latency_ms"]
        steady = run["steady_ms"]
        rows.append([name, f"{run['merged']}/{result['tasks']}", f"{run['wall_s']:.2f}",
                     f"{lat['median']:.0f}", f"{lat['p95']:.0f}", f"{steady['median']:.0f}",
                     f"{steady['p95']:.0f}"])  # fmt: skip
    table = markdown_table(["executor", "merged", "wall s", "task median ms", "task p95 ms",
                            "after 1st wave median ms", "after 1st wave p95 ms"], rows)  # fmt: skip
    phases = result["ray"]["ray_phases_ms"]
    where = ", ".join(f"{k} {v:.0f}" for k, v in phases.items())
    extra = result["extra_ms_per_task"]
    verdict = "met" if extra < result["goal_ms"] else "MISSED"
    return (
        f"## Ray executor overhead ({result['tasks']} tasks, {result['files']} files, "
        f"--instances {result['instances']})\n\n{table}\n\n"
        f"extra per task (median start-to-done after each run's first wave): {extra:.0f} ms "
        f"(goal < {result['goal_ms']:.0f} ms: {verdict}); "
        f"extra wall per task: {result['extra_wall_ms_per_task']:.0f} ms "
        "(includes connecting to the cluster once per run)\n\n"
        f"Ray path, median ms per task: {where}\n"
    )


def main(argv: Sequence[str]) -> int:
    parser = bench_parser("scripts/bench run --executor ray", __doc__, "8 tasks instead of 24")
    parser.add_argument("--executor", choices=["ray"], required=True)
    parser.add_argument("--tasks", type=int, help="tasks per run")
    parser.add_argument("--files", type=int, default=200, help="files of the repository")
    parser.add_argument("--instances", type=int, default=2, help="--instances of every run")
    args = parser.parse_args(argv)
    tasks = args.tasks or (8 if args.quick else 24)
    work = Path(tempfile.mkdtemp(prefix="coordinator-bench-ray-"))
    try:
        result = measure(tasks, args.files, args.instances, work)
        emit(result, render(result), args.json)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0
