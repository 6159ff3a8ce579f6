"""``scripts/bench soak``: many short tasks, misbehaving agents and a coordinator killed with
SIGKILL at random moments, run again each time until the work is done.

Why a soak: the engine's promises under abuse (every task ends exactly once, nothing is lost,
no agent outlives the run, the coordinator does not slow down as the task list grows) only
break in rare interleavings, which a few hand-written fault points cannot enumerate. So this
benchmark makes many of them: N tasks of 0.1-1 s at ``--instances 8`` (agents are the test
suite's ``tests/agents/scripted.py``), 5% of them misbehaving in turn:

* ``hang``: writes its file, ignores SIGTERM and never ends (a 2 s timeout stops it: failed);
* ``crash``: writes its file and kills itself with SIGSEGV (failed);
* ``spew``: prints megabytes past ``log_limit`` first, then does its work (merged);
* ``fork``: leaves a ``setsid`` double-forked daemon that keeps its stdout open (merged; the
  daemon must die);
* ``outside``: also writes a file outside its footprint, ``on_violation = "fail"`` (failed).

The coordinator is killed (SIGKILL) K times, each when a seeded number of tasks have merged
plus a seeded delay of up to a second (so some kills land while the next run starts up and
recovers), and ``coordinator run`` is started again each time, until one run ends by itself.
Then the store, the target's history and the branches are checked against each other (see
``soak_checks``) and every process is scanned for anything of the soak still alive.

A ``coordinator run`` reruns every task that is not merged, so a task whose agent fails every
time fails once in each run that reaches it; "ended once" is checked per run.

Scaling: the same soak at a tenth of the size (the baseline; kills scaled alike) gives the
coordinator's own time per task at both sizes: the CPU time of the coordinator processes
themselves (not of git or the agents; read from each process as it ends), over all runs, per
task; the goal is a ratio within 1.2. The engine's own phases per merged task (``timing``
events: worktree, start, commit, merge, store) are printed beside it, as wall time.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import psutil

from benchmarks import soak_checks
from benchmarks.common import bench_parser, emit, markdown_table
from benchmarks.run_bench import (
    COST_PHASES,
    SCRIPTED,
    bench_env,
    machine,
    make_repo,
    stats,
)
from coordinator.io.runfiles import store_path
from coordinator.io.store import Store

GOAL_RATIO = 1.2  # own time per task at N tasks / at N/10 tasks
KINDS = ("hang", "crash", "spew", "fork", "outside")
HANG_TIMEOUT = "2s"
RUN_LIMIT = 3600.0  # seconds one `coordinator run` may take before the soak gives up on it


@dataclass(frozen=True)
class Sizes:
    """How big the soak is; ``--quick`` and the options pick these."""

    tasks: int  # tasks of the soak
    baseline: int  # tasks of the baseline soak (0: none)
    kills: int  # SIGKILLs of the coordinator during the soak
    instances: int = 8
    misbehave: float = 0.05  # share of the agents that misbehave
    min_s: float = 0.1  # each task's agent takes a seeded time in [min_s, max_s]
    max_s: float = 1.0
    spew: int = 4 * 1024 * 1024  # bytes a spewing agent prints (log_limit is 1 MiB)
    seed: int = 10


FULL = Sizes(1000, 100, 10)
QUICK = Sizes(100, 20, 2)


def log(message: str) -> None:
    print(f"[bench soak] {message}", file=sys.stderr, flush=True)


# -------------------------------------------------------------------------- the project
def behaviours(sizes: Sizes, n: int) -> dict[str, str]:
    """Task id -> behaviour: a seeded ``misbehave`` share of the tasks, kinds in turn."""
    rng = random.Random(f"soak/{sizes.seed}/{n}")  # noqa: S311 - reproducible, not a secret
    ids = [f"t{i:04d}" for i in range(n)]
    bad = sorted(rng.sample(ids, round(n * sizes.misbehave)))
    kinds = dict(zip(bad, (KINDS[i % len(KINDS)] for i in range(len(bad))), strict=True))
    return {t: kinds.get(t, "good") for t in ids}


def spec(task_id: str, behaviour: str, seconds: float, sizes: Sizes, pids: Path) -> str:
    """One spec whose body drives the scripted agent."""
    out = f"@write out/{task_id}.txt {task_id}"
    # Noted once the marker is written: from then on the work is done and recovery must adopt
    # it, so a noted task's agent must never run again.
    said = ["@marker done", f"@note {pids / 'marked'} {task_id}"]
    lines = [f"@pid {pids / 'agents'}"]
    if behaviour == "hang":
        lines += [out, "@ignore-term", "@hang"]
    elif behaviour == "crash":
        lines += [f"@sleep {seconds:.3f}", out, "@signal SEGV"]
    elif behaviour == "spew":
        lines += [f"@spew {sizes.spew}", f"@sleep {seconds:.3f}", out, *said]
    elif behaviour == "fork":
        lines += [f"@fork-away {pids / 'daemons'}", f"@sleep {seconds:.3f}", out, *said]
    elif behaviour == "outside":
        lines += [f"@sleep {seconds:.3f}", out, f"@write stray/{task_id}.txt x", *said]
    else:  # half say done with a marker, half just exit 0
        lines += [f"@sleep {seconds:.3f}", out]
        lines += said if int(task_id[1:]) % 2 else []
    timeout = f"timeout: {HANG_TIMEOUT}\n" if behaviour == "hang" else ""
    return (f'---\nid: {task_id}\nagent: fake\nfiles: ["out/{task_id}.txt"]\n{timeout}---\n'
            + "\n".join(lines) + "\n")  # fmt: skip


def config(token: str, instances: int) -> str:
    command = json.dumps(["{python}", str(SCRIPTED), "{prompt_file}"])
    return (
        f'instances = {instances}\ngrace = "1s"\nfootprint = "declared"\n'
        f'on_violation = "fail"\nlog_limit = 1048576\n\n'
        f'[agents.fake]\ncommand = {command}\ntimeout = "120s"\n'
        f'env = {{ SOAK_TOKEN = "{token}" }}\n'
    )


# ------------------------------------------------------------------------------- the runs
@dataclass
class Invocation:
    """One ``coordinator run`` process."""

    wall_s: float
    cpu_s: float | None  # the coordinator process's own user + system time
    exit: int
    killed_after: int | None = None  # merges seen when it was killed (None: it ended itself)
    delay_s: float | None = None


@dataclass
class Soak:
    """One soak: its runs, its checks and its figures."""

    tasks: int
    behaviours: dict[str, str]
    runs: list[Invocation] = field(default_factory=list)
    wall_s: float = 0.0
    phases: list[dict[str, float]] = field(default_factory=list)
    verdict: soak_checks.Verdict = field(default_factory=soak_checks.Verdict)
    leftovers: list[str] = field(default_factory=list)

    @property
    def cpu_s(self) -> float:
        return sum(r.cpu_s or 0.0 for r in self.runs)


def kill_plan(sizes: Sizes, merges: int, kills: int) -> list[tuple[int, float]]:
    """(merges seen, then this delay in seconds) for each kill, seeded."""
    rng = random.Random(f"kills/{sizes.seed}/{merges}")  # noqa: S311 - reproducible moments
    points = sorted(rng.sample(range(1, max(2, merges)), min(kills, max(1, merges - 1))))
    return [(p, rng.uniform(0.0, 1.0)) for p in points] if kills else []


def run_soak(work: Path, n: int, kills: int, sizes: Sizes) -> Soak:
    """Make the project, run it with kills until a run ends by itself, check everything."""
    root, pids = work / "repo", work / "pids"
    pids.mkdir(parents=True)
    token = uuid.uuid4().hex
    rng = random.Random(f"durations/{sizes.seed}/{n}")  # noqa: S311 - reproducible
    kinds = behaviours(sizes, n)
    specs = {
        f"specs/{t}.md": spec(t, b, rng.uniform(sizes.min_s, sizes.max_s), sizes, pids)
        for t, b in kinds.items()
    }
    make_repo(root, 20, {"coordinator.toml": config(token, sizes.instances), **specs})
    soak = Soak(n, kinds)
    try:
        _runs(soak, root, work, sizes, kills)
    finally:  # also when interrupted: no agent of the soak may stay behind
        leftovers = soak_checks.soak_processes(token, work)
        soak.leftovers = soak_checks.describe(leftovers)
        soak_checks.kill_all(leftovers)
    soak.verdict = _merge_verdicts(
        soak.verdict, soak_checks.check_soak(root, kinds, pids / "marked")
    )
    soak.phases = _phases(root)
    soak.verdict.add("processes that outlived the run", soak.leftovers)
    started = [*soak_checks.recorded_pids(pids / "agents"),
               *soak_checks.recorded_pids(pids / "daemons")]  # fmt: skip
    soak.verdict.figures["processes_started"] = len(started)
    return soak


def _runs(soak: Soak, root: Path, work: Path, sizes: Sizes, kills: int) -> None:
    """``coordinator run`` until one ends by itself, killed at the planned moments."""
    kinds = soak.behaviours
    plan = kill_plan(sizes, sum(1 for b in kinds.values() if b in soak_checks.LANDS), kills)
    n = soak.tasks
    log(f"{n} tasks ({n - list(kinds.values()).count('good')} misbehaving), "
        f"{len(plan)} kills at merges {[p for p, _ in plan]}")  # fmt: skip
    started = time.perf_counter()
    merged = 0
    while True:
        kill = plan.pop(0) if plan else None
        invocation, merged = _invoke(root, work / f"run-{len(soak.runs)}.out", sizes, kill,
                                     merged)  # fmt: skip
        soak.runs.append(invocation)
        log(f"run {len(soak.runs)}: exit {invocation.exit} after {invocation.wall_s:.1f} s"
            f", {merged} merges so far")  # fmt: skip
        if invocation.killed_after is None:
            if invocation.exit not in (0, 1):
                soak.verdict.problems.append(f"the last run exited {invocation.exit}")
            break
    soak.wall_s = time.perf_counter() - started


def _invoke(
    root: Path, out: Path, sizes: Sizes, kill: tuple[int, float] | None, merged: int
) -> tuple[Invocation, int]:
    """One ``coordinator run``, SIGKILLed at ``kill`` if given; (what happened, merges seen)."""
    argv = [sys.executable, "-m", "coordinator.cli", "run", "--json",
            "--instances", str(sizes.instances)]  # fmt: skip
    started = time.perf_counter()
    with out.open("wb") as sink:
        proc = subprocess.Popen(argv, cwd=root, env=bench_env(), stdout=sink,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        return _watch(proc, started, out, kill, merged)
    except BaseException:  # Ctrl-C or a failure of the benchmark: leave nothing running
        with contextlib.suppress(OSError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def _watch(
    proc: subprocess.Popen[bytes],
    started: float,
    out: Path,
    kill: tuple[int, float] | None,
    merged: int,
) -> tuple[Invocation, int]:
    reader = _Merges(out)
    kill_at: float | None = None
    killed_after = None
    while not _exited(proc.pid):
        merged_now = merged + reader.count()
        if kill is not None and kill_at is None and merged_now >= kill[0]:
            kill_at = time.perf_counter() + kill[1]
        if kill_at is not None and time.perf_counter() >= kill_at:
            killed_after = merged_now
            os.kill(proc.pid, signal.SIGKILL)
            break
        if time.perf_counter() - started > RUN_LIMIT:
            os.kill(proc.pid, signal.SIGKILL)
            raise RuntimeError(f"coordinator run took over {RUN_LIMIT:.0f} s; see {out}")
        time.sleep(0.05)
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    cpu = _own_cpu(proc.pid)
    code = proc.wait()
    wall = time.perf_counter() - started
    delay = kill[1] if kill is not None and killed_after is not None else None
    return Invocation(wall, cpu, code, killed_after, delay), merged + reader.count()


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (its CPU time is read first)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None


def _own_cpu(pid: int) -> float | None:
    """User + system time of the exited, not yet reaped, process itself (not its children)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


class _Merges:
    """Counts ``merged`` events in a run's ``--json`` output as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.seen = 0
        self.rest = b""

    def count(self) -> int:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return self.seen
        self.offset += len(data)
        lines = (self.rest + data).split(b"\n")
        self.rest = lines.pop()
        self.seen += sum(1 for line in lines if line.startswith(b'{"event": "merged"'))
        return self.seen


def _merge_verdicts(first: soak_checks.Verdict, second: soak_checks.Verdict) -> soak_checks.Verdict:
    return soak_checks.Verdict(first.problems + second.problems, second.figures)


def _phases(root: Path) -> list[dict[str, float]]:
    """``phases_ms`` of every merged task, over all runs."""
    with Store.open_readonly(store_path(root / ".git")) as store:
        return [
            dict(e.data.get("phases_ms", {}))
            for run_id in store.run_ids()
            for e in store.events(run_id)
            if e.kind == "timing"
        ]


# ------------------------------------------------------------------------------- figures
def figures(soak: Soak) -> dict[str, Any]:
    own = [sum(p.get(k, 0.0) for k in COST_PHASES) for p in soak.phases]
    counts = {k: list(soak.behaviours.values()).count(k) for k in ("good", *KINDS)}
    return {
        "tasks": soak.tasks,
        "behaviours": counts,
        "runs": [vars(r) for r in soak.runs],
        "kills": sum(1 for r in soak.runs if r.killed_after is not None),
        "wall_s": soak.wall_s,
        "cpu_s": soak.cpu_s,
        "cpu_ms_per_task": 1000 * soak.cpu_s / soak.tasks,
        "phases_ms_per_task": stats(own),
        "checks": soak_checks.as_json(soak.verdict),
        "leftovers": soak.leftovers,
    }


def measure(sizes: Sizes, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any] = {"machine": machine(), "sizes": vars(sizes) | {}}
    result["load_before"] = list(os.getloadavg())
    log(f"soak: {sizes.tasks} tasks, --instances {sizes.instances}, {sizes.kills} kills")
    result["soak"] = figures(run_soak(work / "soak", sizes.tasks, sizes.kills, sizes))
    if sizes.baseline:
        kills = round(sizes.kills * sizes.baseline / sizes.tasks)
        log(f"baseline: {sizes.baseline} tasks, {kills} kills")
        result["baseline"] = figures(run_soak(work / "baseline", sizes.baseline, kills, sizes))
        big, small = result["soak"], result["baseline"]
        result["cpu_ratio"] = big["cpu_ms_per_task"] / small["cpu_ms_per_task"]
        b, s = big["phases_ms_per_task"]["median"], small["phases_ms_per_task"]["median"]
        result["phases_ratio"] = b / s if b and s else None
    result["goal_ratio"] = GOAL_RATIO
    result["load_after"] = list(os.getloadavg())
    result["total_s"] = time.perf_counter() - started
    result["ok"] = result["soak"]["checks"]["ok"] and (
        "baseline" not in result or result["baseline"]["checks"]["ok"]
    )
    return result


def render(result: Mapping[str, Any]) -> str:
    m = result["machine"]
    load = ", ".join(f"{x:.2f}" for x in result["load_before"])
    after = ", ".join(f"{x:.2f}" for x in result["load_after"])
    out = [
        "## soak: misbehaving agents and a coordinator killed at random moments",
        "",
        f"machine: nproc {m['nproc']}, {m['cpu']}, Python {m['python']}, git {m['git']}; "
        f"load average {load} before, {after} after; total {result['total_s']:.0f} s",
        "",
    ]
    soaks = [("soak", result["soak"])]
    if "baseline" in result:
        soaks.append(("baseline", result["baseline"]))
    rows = []
    for name, s in soaks:
        ph = s["phases_ms_per_task"]
        rows.append([name, s["tasks"], s["kills"], len(s["runs"]), f"{s['wall_s']:.1f}",
                     f"{s['cpu_s']:.1f}", f"{s['cpu_ms_per_task']:.1f}", _ms(ph["median"]),
                     _ms(ph["mean"]), s["checks"]["merged"], s["checks"]["failed"],
                     "ok" if s["checks"]["ok"] else "FAILED"])  # fmt: skip
    out.append(markdown_table(
        ["soak", "tasks", "kills", "runs", "wall s", "coordinator CPU s", "CPU ms / task",
         "phases median ms", "phases mean ms", "merged", "failed", "checks"], rows))  # fmt: skip
    out.append("")
    for name, s in soaks:
        kinds = ", ".join(f"{k} {n}" for k, n in s["behaviours"].items())
        kills = [f"{r['killed_after']}+{r['delay_s']:.2f}s" for r in s["runs"]
                 if r["killed_after"] is not None]  # fmt: skip
        out.append(f"- {name}: {kinds}; killed after merges+delay: {', '.join(kills) or '-'}; "
                   f"{s['checks']['failed_records']} failed records over "
                   f"{s['checks']['runs']} runs (each run reruns what is not merged), "
                   f"{s['checks']['interrupted_records']} interrupted")  # fmt: skip
        for problem in s["checks"]["problems"]:
            out.append(f"  - PROBLEM: {problem}")
    if "cpu_ratio" in result:
        verdict = "met" if result["cpu_ratio"] <= result["goal_ratio"] else "MISSED"
        out += ["", f"coordinator CPU per task: {result['soak']['cpu_ms_per_task']:.1f} ms at "
                f"{result['soak']['tasks']} tasks, {result['baseline']['cpu_ms_per_task']:.1f} ms"
                f" at {result['baseline']['tasks']}: ratio {result['cpu_ratio']:.2f} (goal <= "
                f"{result['goal_ratio']}: {verdict}); engine phases median ratio "
                f"{_ratio(result['phases_ratio'])}."]  # fmt: skip
    out += ["", "checks: " + ("every check held" if result["ok"] else "SOME CHECK FAILED")]
    return "\n".join(out)


def _ms(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    quick = "100 tasks, 2 kills; baseline 20"
    parser = bench_parser("scripts/bench soak", __doc__, quick, keep=True)
    helps = {"tasks": "tasks of the soak", "baseline": "tasks of the baseline (0: none)",
             "kills": "SIGKILLs of the coordinator", "instances": "--instances of the runs",
             "misbehave": "share of misbehaving agents", "min_s": "shortest agent, s",
             "max_s": "longest agent, s", "spew": "bytes a spewing agent prints",
             "seed": "seed of behaviours, durations and kill moments"}  # fmt: skip
    for f in fields(Sizes):
        kind = float if f.name in ("misbehave", "min_s", "max_s") else int
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=kind, help=helps[f.name])
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    overrides = {f.name: getattr(args, f.name) for f in fields(Sizes)}
    sizes = replace(sizes, **{k: v for k, v in overrides.items() if v is not None})
    work = Path(tempfile.mkdtemp(prefix="coordinator-bench-soak-"))
    try:
        result = measure(sizes, work)
        emit(result, render(result), args.json)
        sys.stdout.flush()
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
