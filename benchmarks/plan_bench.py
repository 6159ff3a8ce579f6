"""``scripts/bench plan``: how long loading and planning take, and how much memory, as plans grow.

Each size runs in its own subprocess, so its peak resident memory (``ru_maxrss``) is its own and
no cache of a previous size helps it. The child generates the spec files as markdown strings
(not timed), then times, in order: parsing them with ``parse_spec_file`` ("parse"),
``build_plan`` without a slot count ("plan": validation, footprints, overlaps, critical path),
``choose_rank`` for 8 slots ("rank": what ``build_plan(..., instances=8)`` adds on top),
``simulate`` of the ranked plan ("simulate") and the list of conflicting pairs ("conflicts",
built on first read, for ``plan``'s output and ``validate``). "total" is their sum: what
``coordinator plan`` computes before it formats its output.

``--cli`` also writes each size as a real repository (spec files, tracked source files, a
commit) and times the commands as a user runs them, each a fresh process: ``coordinator
validate`` and ``coordinator plan --format json`` (every conflict with its shared paths) to
/dev/null, wall time including Python's start-up and reading the files.

Generated plans: every task depends on 2 random earlier tasks and touches 2 of 1,000 shared
files, with estimates from 1 to 60 minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import REPO_ROOT, emit, markdown_table
from coordinator.core.config import AgentConfig, Config
from coordinator.core.footprint import RepoPaths
from coordinator.core.gcpause import gc_paused
from coordinator.core.models import TaskSpec
from coordinator.core.ordering import choose_rank
from coordinator.core.planner import build_plan
from coordinator.core.policy import shared_claims
from coordinator.core.simulate import simulate
from coordinator.core.specs import parse_spec_file

SIZES = (1_000, 10_000, 50_000)
QUICK_SIZES = (200, 1_000)
FILES = 1_000
INSTANCES = 8
TARGET_SECONDS = {10_000: 2.0, 50_000: 10.0}
TARGET_MB = {50_000: 1024}
LARGE_SIZES = (50_000,)
STAGES = ("parse", "plan", "rank", "simulate", "conflicts")
CLI_SIZES = (1_000, 10_000)
CLI_COMMANDS = {"validate": ["validate"], "plan --format json": ["plan", "--format", "json"]}


def spec_texts(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """(source, markdown text) of n specs: 2 dependencies and 2 files each."""
    rng = random.Random(seed)  # noqa: S311 - reproducible, not a secret
    texts = []
    for i in range(n):
        deps = sorted({f"t{rng.randrange(i):05d}" for _ in range(2)}) if i else []
        files = sorted({f"src/m{rng.randrange(FILES):04d}.py" for _ in range(2)})
        text = (
            f"---\nid: t{i:05d}\nagent: coder\ndepends_on: [{', '.join(deps)}]\n"
            f"files: [{', '.join(files)}]\nestimate: {rng.randint(60, 3600)}s\n---\n"
            f"Implement part {i} of the feature.\n"
        )
        texts.append((f"specs/t{i:05d}.md", text))
    return texts


def child(n: int) -> dict[str, Any]:
    """Measure one size in this process; called in a fresh subprocess by ``measure``."""
    texts = spec_texts(n)
    config = Config(agents={"coder": AgentConfig(command=["true"])}, instances=INSTANCES)
    repo = RepoPaths.from_files(f"src/m{i:04d}.py" for i in range(FILES))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stages: dict[str, float] = {}
    cpu_started = time.process_time()

    started = time.perf_counter()
    specs: list[TaskSpec] = []
    with gc_paused():  # as project.read_specs parses
        for source, text in texts:
            specs.extend(parse_spec_file(text, source, order_start=len(specs)))
    stages["parse"] = time.perf_counter() - started

    started = time.perf_counter()
    plan = build_plan(specs, config, repo)
    stages["plan"] = time.perf_counter() - started

    started = time.perf_counter()
    rank = choose_rank(plan, instances=INSTANCES, caps={})
    stages["rank"] = time.perf_counter() - started

    started = time.perf_counter()
    schedule = simulate(dataclasses.replace(plan, rank=rank), instances=INSTANCES, caps={})
    stages["simulate"] = time.perf_counter() - started

    started = time.perf_counter()
    conflicts = len(plan.conflicts)
    stages["conflicts"] = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started

    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "load_average": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "tasks": n,
        "edges": sum(len(s.depends_on) for s in specs),
        "overlapping_pairs": shared_claims(plan).pair_count(),
        "conflicts": conflicts,
        "seconds": stages,
        "total_seconds": sum(stages.values()),
        "cpu_seconds": cpu_seconds,
        "peak_rss_mb": rss_after / 1024,
        "rss_before_load_mb": rss_before / 1024,
        "makespan_over_lb": schedule.makespan / schedule.lower_bound,
    }


def measure(n: int) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.plan_bench", "--child", str(n)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def write_repo(root: Path, n: int) -> None:
    """A git repository holding n generated spec files, the files they name and a config."""
    for source, text in spec_texts(n):
        path = root / source
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "src").mkdir()
    for i in range(FILES):
        (root / f"src/m{i:04d}.py").write_text(f"# module {i}\n", encoding="utf-8")
    (root / "coordinator.toml").write_text(
        f'instances = {INSTANCES}\n[agents.coder]\ncommand = ["true"]\n', encoding="utf-8"
    )
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
        subprocess.run([*git, *args], cwd=root, check=True)


def measure_cli(n: int) -> dict[str, Any]:
    """Wall time of each of ``CLI_COMMANDS`` on a fresh n-task repository, output discarded."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    seconds, peak_mb = {}, {}
    with tempfile.TemporaryDirectory(prefix="plan-bench-") as tmp:
        root = Path(tmp)
        write_repo(root, n)
        for name, args in CLI_COMMANDS.items():
            started = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "coordinator.cli", *args],
                cwd=root,
                env=env,
                stdout=subprocess.DEVNULL,
            )
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak memory
            seconds[name] = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                raise RuntimeError(f"coordinator {name} exited {proc.returncode}")
            peak_mb[name] = usage.ru_maxrss / 1024
    return {
        "tasks": n,
        "seconds": seconds,
        "peak_rss_mb": peak_mb,
        "load_average": os.getloadavg()[0],
    }


CLI_HEADERS = ("tasks", *CLI_COMMANDS, *(f"{k} peak MB" for k in CLI_COMMANDS), "load")


def render_cli(rows: list[dict[str, Any]]) -> str:
    table = [
        [
            r["tasks"],
            *(f"{r['seconds'][k]:.2f}" for k in CLI_COMMANDS),
            *(f"{r['peak_rss_mb'][k]:.0f}" for k in CLI_COMMANDS),
            f"{r['load_average']:.1f}",
        ]
        for r in rows
    ]
    caption = (
        "Seconds of wall time per command, each a fresh process in a real repository: start-up, "
        "reading the spec files, planning and writing the output (to /dev/null); peak resident "
        "memory of each command's process."
    )
    title = "## plan: the commands end to end"
    return "\n".join([title, "", caption, "", markdown_table(CLI_HEADERS, table)])


HEADERS = ("tasks", "overlapping pairs", "parse", "plan", "rank", "simulate", "conflicts", "total",
           "cpu", "us/task", "peak RSS MB (+load)", "growth", "target", "load")  # fmt: skip


def render(rows: list[dict[str, Any]]) -> str:
    """One table row per size; growth compares with the size before."""
    table = []
    for i, r in enumerate(rows):
        s = r["seconds"]
        growth = ""
        if i:
            before = rows[i - 1]
            growth = (
                f"x{r['total_seconds'] / before['total_seconds']:.1f} time "
                f"for x{r['tasks'] / before['tasks']:.0f} tasks"
            )
        verdicts = []
        target = TARGET_SECONDS.get(r["tasks"])
        if target is not None:
            verdicts.append(f"{'under' if r['total_seconds'] < target else 'OVER'} {target:.0f} s")
        target_mb = TARGET_MB.get(r["tasks"])
        if target_mb is not None:
            over = r["peak_rss_mb"] >= target_mb
            verdicts.append(f"{'OVER' if over else 'under'} {target_mb / 1024:.0f} GB")
        verdict = ", ".join(verdicts)
        table.append([
            r["tasks"], r["overlapping_pairs"], *(f"{s[k]:.2f}" for k in STAGES),
            f"{r['total_seconds']:.2f}", f"{r['cpu_seconds']:.2f}",
            f"{1e6 * r['total_seconds'] / r['tasks']:.0f}",
            f"{r['peak_rss_mb']:.0f} (+{r['peak_rss_mb'] - r['rss_before_load_mb']:.0f})",
            growth, verdict, f"{r['load_average']:.1f}",
        ])  # fmt: skip
    caption = (
        f"Each size in its own subprocess; rank = choose_rank for {INSTANCES} slots; seconds. "
        "load = 1-minute load average as the size finished: timings stretch with it; cpu = the "
        "CPU seconds the process spent on all the stages, which a busy machine stretches less."
    )
    title = "## plan: load + plan time and peak memory by size"
    return "\n".join([title, "", caption, "", markdown_table(HEADERS, table)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench plan", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}")
    parser.add_argument(
        "--large", action="store_true", help=f"sizes {LARGE_SIZES} only (the scaling goal)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--sizes", type=int, nargs="+", help="task counts to measure")
    parser.add_argument(
        "--cli",
        action="store_true",
        help=f"also time the commands on real repositories (sizes {CLI_SIZES}, or --sizes)",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child)))
        return 0
    sizes = args.sizes or (QUICK_SIZES if args.quick else LARGE_SIZES if args.large else SIZES)
    rows = [measure(n) for n in sizes]
    result: dict[str, Any] = {"sizes": rows}
    markdown = render(rows)
    if args.cli:
        cli_sizes = args.sizes or (
            QUICK_SIZES if args.quick else LARGE_SIZES if args.large else CLI_SIZES
        )
        result["commands"] = [measure_cli(n) for n in cli_sizes]
        markdown += "\n\n" + render_cli(result["commands"])
    emit(result, markdown, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
