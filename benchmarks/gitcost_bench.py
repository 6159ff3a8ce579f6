"""``scripts/bench gitcost``: the CPU the coordinator's git commands use per task, by phase.

Why beside ``run``'s overhead family: that family times the engine's phases in wall time, which
on a shared machine mostly measures waiting for a CPU (a load average of 20 on 2 cores inflated
a 20-file repository's cost per task 25 times). The CPU time of the git processes (user + sys,
``RUSAGE_CHILDREN``) and their count barely move with the load, so a change's effect shows here
even when the wall figures are noise. It drives the same code the engine's jobs run, in order,
for one warm task after another on a generated repository: take a pooled worktree, write one
file, collect the work and list what changed (the footprint check, and the symlinks among the
changes), merge, hand the worktree back to the pool.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import bench_parser, emit, markdown_table
from benchmarks.run_bench import IDENTITY, make_repo
from coordinator.io import processes
from coordinator.io.clones import refuse_unsafe_links
from coordinator.io.gitisolation import changes_and_symlinks
from coordinator.io.gitrepo import GitRepo
from coordinator.io.guardindex import PrivateIndex
from coordinator.io.idlewatch import IdleWatch
from coordinator.io.merger import merge_task
from coordinator.io.workcheck import CheckoutGuard, collect_work
from coordinator.io.worktrees import Worktrees

PHASES = ("worktree", "commit", "guard", "merge", "pool")
COST = ("worktree", "commit", "merge")  # the phases on a task's path (the pool job is not)


def _cpu_ms() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (used.ru_utime + used.ru_stime) * 1000


def measure(n_files: int, cycles: int, work: Path) -> dict[str, Any]:
    """``cycles`` warm tasks on ``n_files`` files: per phase git CPU ms, processes and wall ms."""
    started: list[int] = [0]
    real_run = processes.run

    def counted(argv: Sequence[str], **kwargs: Any) -> processes.ProcessResult:
        started[0] += 1
        return real_run(argv, **kwargs)

    root = work / "repo"
    make_repo(root, n_files, {})
    samples: dict[str, list[tuple[float, int, float]]] = {p: [] for p in PHASES}
    mark: list[tuple[float, int, float]] = []

    def begin() -> None:
        mark[:] = [(_cpu_ms(), started[0], time.perf_counter())]

    def end(name: str, keep: bool) -> None:
        cpu, count, wall = mark[0]
        if keep:
            used = (_cpu_ms() - cpu, started[0] - count, (time.perf_counter() - wall) * 1000)
            samples[name].append(used)

    processes.run = counted
    idle = IdleWatch()  # as a run's (a large pooled worktree is proven clean when pooled)
    try:
        with GitRepo.discover(root) as repo:
            repo.create_branch("target", "main")
            trees = Worktrees(repo, "worktrees", pool_size=1, idle=idle)
            checkout = CheckoutGuard(repo, private=PrivateIndex.of(repo.git_dir))
            checkout.snapshot()
            for i in range(cycles + 1):  # the first task's worktree is a fresh one: not kept
                keep = i > 0
                _task(repo, trees, checkout, f"t{i:03d}", begin, functools.partial(end, keep=keep))
    finally:
        processes.run = real_run
        idle.stop()
    out: dict[str, Any] = {"files": n_files, "cycles": cycles, "load": os.getloadavg()[0]}
    for name, rows in samples.items():
        out[name] = {
            "git_cpu_ms": statistics.median(r[0] for r in rows),
            "git_processes": statistics.median(r[1] for r in rows),
            "wall_ms": statistics.median(r[2] for r in rows),
        }
    out["cost_git_cpu_ms"] = statistics.median(
        sum(samples[p][i][0] for p in COST) for i in range(cycles)
    )
    return out


def _task(repo: GitRepo, trees: Worktrees, checkout: CheckoutGuard, task: str,
          begin: Callable[[], None], end: Callable[[str], None]) -> None:  # fmt: skip
    """One warm task, phase by phase, as the engine's jobs run it."""
    branch = f"coordinator/task/{task}"
    base = repo.rev_parse("refs/heads/target")
    assert base is not None
    begin()
    path = trees.take(task, branch, base).path
    end("worktree")
    (path / "out").mkdir(exist_ok=True)
    (path / "out" / f"{task}.txt").write_text("done\n", encoding="utf-8")
    begin()
    check = collect_work(repo, worktree=path, branch=branch, base=base,
                         identity=IDENTITY, message="work")  # fmt: skip
    changed, links = changes_and_symlinks(repo, base, check.head)
    refuse_unsafe_links(repo, check, changed, links)  # as the settle job does
    end("commit")
    begin()
    checkout.changes()
    end("guard")
    begin()
    landed = merge_task(repo, "refs/heads/target", check.head, "merge", IDENTITY)
    end("merge")
    begin()
    trees.release(task, landed.commit)
    end("pool")


def render(results: Sequence[dict[str, Any]]) -> str:
    lines = ["## gitcost: git CPU per warm task, by phase (medians)", ""]
    for res in results:
        rows = [[name, f"{res[name]['git_cpu_ms']:.1f}", f"{res[name]['git_processes']:.0f}",
                 f"{res[name]['wall_ms']:.1f}"] for name in PHASES]  # fmt: skip
        lines += [
            f"### {res['files']:,} files, {res['cycles']} tasks (load average {res['load']:.1f})",
            "",
            markdown_table(["phase", "git CPU ms", "git processes", "wall ms"], rows),
            "",
            f"git CPU on a task's path (worktree + commit + merge): "
            f"{res['cost_git_cpu_ms']:.1f} ms; the look at the user's checkout (guard) runs in "
            "the same job after the commit; the pool job runs after the merge, off that path.",
            "",
        ]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = bench_parser("scripts/bench gitcost", __doc__, "10,000 files, 5 tasks")
    parser.add_argument("--files", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--cycles", type=int, default=10)
    args = parser.parse_args(argv)
    sizes, cycles = ([10_000], 5) if args.quick else (args.files, args.cycles)
    for key in [k for k in os.environ if k.startswith("GIT_")]:
        del os.environ[key]
    os.environ.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    results = []
    for n_files in sizes:
        work = Path(tempfile.mkdtemp(prefix="coordinator-bench-gitcost-"))
        try:
            results.append(measure(n_files, cycles, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    emit({"runs": results}, render(results), args.json)
    return 0
