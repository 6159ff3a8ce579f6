"""``scripts/bench run``: the real engine, through the real CLI, on throwaway repositories.

Why this shape: the coordinator's promises that matter at run time (slots kept busy, a small
cost per task, fast completion detection, fast merges) only show up with real git, real
processes and a real event loop, so every engine figure here comes from ``coordinator run`` in
a subprocess on a temporary repository, read back from the run's own store (the ``timing``
event the engine writes per merged task, ``phases_ms``). Agents are the test suite's fake
(``tests/agents/scripted.py``) so that what is measured is the coordinator, not an LLM.

Benchmarks, each printed as a markdown table (``--json``: the same figures as one object):

* **parallel**: N agents that sleep S seconds each, disjoint footprints, ``--instances 3``,
  wall time against the ideal ``N*S/3`` and against the same tasks with ``--instances 1``.
* **overhead**: the coordinator's own time per task by phase (worktree create, agent start,
  commit, merge, store) on a small repository and on one with 10,000 tracked files, with agents
  that mark done at once. Runs use ``--instances 1`` by default so that on a small machine the
  figures are the coordinator's cost, not CPU contention with other agents starting up.
* **worktree**: outside the engine, on the 10,000-file repository: what ``git worktree add``
  (the engine's way) costs against a sparse checkout of only the task's footprint, a bare
  ``--no-checkout`` add (the floor) and re-pointing an existing worktree (a pool), plus the
  commit step on each kind of worktree, since ``git add -A`` scans whatever was checked out.
* **detect**: marker written (its mtime) to task marked done (``phases_ms.detect``), against a
  real loop that polls once a second on the same kind of marker writes (and the watchdog
  watcher alone on those writes, to separate the watcher from the engine's queue).
* **merge**: merges per second on the 10,000-file repository: a batch of
  ``coordinator.io.merger.merge_task`` calls on prepared branches, and ``phases_ms.merge``.
* **linger** and **gate** (``benchmarks/run_families.py``): agents that stay alive after their
  done marker, and the parallel agents with a merge gate, against the same run without one.
* **isolation** (``benchmarks/isolation_bench.py``): the coordinator's cost per task, and the
  wall time per task, with ``isolation`` = ``worktree``, ``clone`` and ``sandbox``.

Absolute times on a shared machine are noise; read the ratios. Percentiles are nearest-rank,
so with fewer than 20 samples "p95" is the maximum.
"""

from __future__ import annotations

import json
import math
import os
import platform
import queue
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from benchmarks.common import REPO_ROOT, bench_parser, emit, markdown_table
from coordinator.core.config import Identity
from coordinator.io.gitrepo import GitRepo
from coordinator.io.markers import MarkerSeen, MarkerWatcher
from coordinator.io.merger import build_merge_message, merge_task
from coordinator.io.runfiles import store_path
from coordinator.io.store import Store
from coordinator.io.workcheck import collect_work

SCRIPTED = REPO_ROOT / "tests" / "agents" / "scripted.py"
COST_PHASES = ("worktree", "start", "commit", "merge", "store")  # the engine thread's own time
PARALLEL_INSTANCES = 3
PARALLEL_GOAL = 1.15  # wall / (sum / 3) with --instances 3
OVERHEAD_GOAL_MS = 100.0  # median per-task cost, 10,000 files, full checkout, warm worktrees
HUGE_GOAL_MS = 250.0  # the same on the 100,000-file repository
DETECT_GOAL_MS = 20.0  # median marker-to-done latency of the engine
LINGER = 0.3  # s an agent lives on after its marker, so the marker (not its exit) ends it
POLL_INTERVAL = 1.0  # the baseline: a loop that looks for markers once a second
WORKTREE_METHODS = ("full", "sparse", "no-checkout", "reuse")
IDENTITY = Identity(name="bench", email="bench@localhost")

Stats = dict[str, float | int | None]


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark is; ``--quick`` and the per-size options pick these."""

    tasks: int  # parallel: number of sleeping agents
    sleep: float  # parallel: seconds each one sleeps
    overhead_tasks: int  # overhead: tasks per repository
    small_files: int  # tracked files of the "small" repository
    big_files: int  # tracked files of the "large" repository
    reps: int  # worktree: creations per method
    merges: int  # merge: merge_task calls in the direct batch
    markers: int  # detect: marker writes for the polling baseline
    window: float  # detect: seconds over which those writes are spread
    overhead_instances: int = 1
    gate: float = 2.0  # gate: seconds the merge gate takes on every merge
    huge_files: int = 0  # tracked files of the "huge" repository (0: no such run)


# Every task of the large overhead run and every "full" worktree rep writes 10,000 files (and
# deleting them afterwards costs more still), hence 20 and 6, not more.
FULL = Sizes(30, 2.0, 20, 20, 10_000, 6, 60, 40, 6.0, huge_files=100_000)
QUICK = Sizes(9, 0.5, 6, 20, 10_000, 3, 20, 12, 2.0, gate=0.5)


# ------------------------------------------------------------------------------ plumbing
def bench_env() -> dict[str, str]:
    """The environment of every git and coordinator process the benchmark starts.

    No inherited ``GIT_*`` (a hook's) and no global or system git config, so a user's
    ``core.fsmonitor``, ``feature.manyFiles`` or hooks path cannot change what is measured.
    ``PYTHONPATH`` points at this checkout so the CLI measured is the one being developed.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def git(cwd: Path, *args: str, data: bytes | None = None) -> str:
    """Run git, fail loudly, return stdout as text."""
    proc = subprocess.run(
        ["git", *args], cwd=cwd, input=data, capture_output=True, env=bench_env(), check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.decode()[-2000:]}")
    return proc.stdout.decode("utf-8", "replace")


def stats(values: Sequence[float]) -> Stats:
    """Count, median, nearest-rank p95 and mean (None without samples: JSON has no NaN).

    The mean is there because wall time per task is a mean: a heavy tail shows up in it and in
    the p95, not in the median.
    """
    ordered = sorted(values)
    if not ordered:
        return {"n": 0, "median": None, "p95": None, "mean": None}
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    median = statistics.median(ordered)
    return {"n": len(ordered), "median": median, "p95": p95, "mean": statistics.fmean(ordered)}


def log(message: str) -> None:
    """Progress on stderr, so ``--json`` output stays one parseable object on stdout."""
    print(f"[bench run] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    """What the figures were measured on: they mean little without it."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    affinity = getattr(os, "sched_getaffinity", None)
    nproc = len(affinity(0)) if affinity is not None else (os.cpu_count() or 0)
    return {
        "nproc": nproc,
        "cpu": cpu or platform.processor(),
        "python": platform.python_version(),
        "git": git(Path.cwd(), "--version").strip().removeprefix("git version "),
        "platform": platform.platform(),
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),  # a shared machine inflates all
    }


# ---------------------------------------------------------------------------- repositories
def file_path(i: int) -> str:
    """The i-th generated file: 100 per directory, like a source tree rather than one flat dir."""
    return f"src/d{i // 100:03d}/f{i:05d}.txt"


def fast_import_commit(ref: str, message: str, files: Mapping[str, str], parent: str = "") -> bytes:
    """One ``git fast-import`` commit: blobs are hashed by git in one process, with no checkout,
    which is what makes a 10,000-file repository take a second instead of many."""
    text = message.encode()
    out = [
        f"commit {ref}\ncommitter bench <bench@localhost> 1700000000 +0000\n".encode(),
        b"data %d\n%s\n" % (len(text), text),
    ]
    if parent:
        out.append(f"from {parent}\n".encode())
    for path, content in files.items():
        data = content.encode()
        out.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))
    return b"".join(out)


def make_repo(
    root: Path, n_files: int, extra: Mapping[str, str], *, checkout: bool = True
) -> float:
    """A repository at ``root``: ``n_files`` generated files plus ``extra`` in one commit on
    ``main``; with ``checkout`` the main worktree holds them, as a user's would. Seconds taken."""
    started = time.perf_counter()
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "bench")
    git(root, "config", "user.email", "bench@localhost")
    files = {file_path(i): f"file {i}\n" for i in range(n_files)} | dict(extra)
    git(
        root, "fast-import", "--quiet", data=fast_import_commit("refs/heads/main", "initial", files)
    )
    if checkout:
        git(root, "reset", "-q", "--hard")
    return time.perf_counter() - started


def config_text(checkout: str = "full") -> str:
    """``coordinator.toml`` for the fake agent; footprints declared so planning is not measured."""
    command = json.dumps(["{python}", str(SCRIPTED), "{prompt_file}"])
    return (
        f'instances = {PARALLEL_INSTANCES}\ngrace = "2s"\nfootprint = "declared"\n'
        f'checkout = "{checkout}"\n\n'
        f'[agents.fake]\ncommand = {command}\ntimeout = "600s"\n'
    )


def specs(bodies: Mapping[str, str]) -> dict[str, str]:
    """Spec files (path -> text) of independent tasks, each owning ``out/<id>.txt``."""
    return {
        f"specs/{task_id}.md": (
            f'---\nid: {task_id}\nagent: fake\nfiles: ["out/{task_id}.txt"]\n---\n{body}\n'
        )
        for task_id, body in bodies.items()
    }


def project_files(bodies: Mapping[str, str], checkout: str = "full") -> dict[str, str]:
    return {"coordinator.toml": config_text(checkout), **specs(bodies)}


def task_ids(n: int) -> list[str]:
    return [f"t{i:03d}" for i in range(n)]


# ------------------------------------------------------------------------------ engine runs
@dataclass(frozen=True)
class RunOutcome:
    """One ``coordinator run`` as the benchmark sees it."""

    wall: float  # seconds, the CLI subprocess from start to exit (Python start-up included)
    engine_wall: float  # seconds, the engine's own wall time from the run summary
    merged: int
    phases: list[dict[str, float]]  # phases_ms of every merged task
    agent_seconds: float = 0.0  # the agents' own time, from the run summary
    max_parallel: int = 0


def run_cli(root: Path, instances: int, *, timeout: float) -> RunOutcome:
    """``coordinator run --instances N`` in a subprocess, then its store, read as ``status``
    would: the run summary and every ``timing`` event."""
    argv = [sys.executable, "-m", "coordinator.cli", "run", "--instances", str(instances)]
    started = time.perf_counter()
    proc = subprocess.run(
        argv,
        cwd=root,
        capture_output=True,
        text=True,
        env=bench_env(),
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(
            f"coordinator run exited {proc.returncode} in {root}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    with Store.open_readonly(store_path(root / ".git")) as store:
        run_id = store.last_run_id()
        assert run_id is not None
        run = store.run(run_id)
        events = store.events(run_id)
        merged = sum(1 for t in store.tasks(run_id) if t.state == "merged")
    summary = (run.summary if run is not None else None) or {}
    phases = [dict(e.data.get("phases_ms", {})) for e in events if e.kind == "timing"]
    return RunOutcome(
        wall,
        float(summary.get("wall_seconds", wall)),
        merged,
        phases,
        float(summary.get("agent_seconds", 0.0)),
        int(summary.get("max_parallel", 0)),
    )


def bench_parallel(work: Path, sizes: Sizes) -> dict[str, Any]:
    """Sleeping agents with disjoint footprints: how close ``--instances 3`` gets to sum/3."""
    bodies = {
        t: f"@sleep {sizes.sleep}\n@write out/{t}.txt done\n@marker done"
        for t in task_ids(sizes.tasks)
    }
    total = sizes.tasks * sizes.sleep
    runs: dict[int, RunOutcome] = {}
    for instances in (PARALLEL_INSTANCES, 1):
        root = work / f"parallel-{instances}"
        make_repo(root, sizes.small_files, project_files(bodies))
        log(f"parallel: {sizes.tasks} tasks x {sizes.sleep} s, --instances {instances}")
        runs[instances] = outcome = run_cli(root, instances, timeout=3 * total + 300)
        if outcome.merged != sizes.tasks:
            raise RuntimeError(f"parallel run merged {outcome.merged} of {sizes.tasks} tasks")
    ideal = total / PARALLEL_INSTANCES
    many, one = runs[PARALLEL_INSTANCES], runs[1]
    return {
        "tasks": sizes.tasks,
        "sleep_s": sizes.sleep,
        "sum_s": total,
        "ideal_s": ideal,
        "instances_3": {
            "wall_s": many.wall,
            "engine_wall_s": many.engine_wall,
            "ratio_to_ideal": many.wall / ideal,
            "engine_ratio_to_ideal": many.engine_wall / ideal,
        },
        "instances_1": {
            "wall_s": one.wall,
            "engine_wall_s": one.engine_wall,
            "ratio_to_sum": one.wall / total,
            "engine_ratio_to_sum": one.engine_wall / total,
        },
        "speedup": one.wall / many.wall,
        "goal_ratio": PARALLEL_GOAL,
        "detect_ms": [p["detect"] for p in many.phases if "detect" in p],
    }


def bench_overhead(
    root: Path, n_files: int, sizes: Sizes, checkout: str = "full"
) -> dict[str, Any]:
    """Agents that write one file and mark done at once: what is left is the coordinator.

    ``checkout = "sparse"`` is the engine's opt-in: each worktree holds only its footprint.
    """
    bodies = {
        t: f"@write out/{t}.txt done\n@marker done\n@sleep {LINGER}"
        for t in task_ids(sizes.overhead_tasks)
    }
    setup = make_repo(root, n_files, project_files(bodies, checkout))
    log(f"overhead: {sizes.overhead_tasks} tasks on {n_files} files (repo made in {setup:.1f} s)")
    outcome = run_cli(root, sizes.overhead_instances, timeout=60 * sizes.overhead_tasks + 300)
    if outcome.merged != sizes.overhead_tasks:
        raise RuntimeError(f"overhead run merged {outcome.merged} of {sizes.overhead_tasks}")
    per_phase = {
        phase: stats([p[phase] for p in outcome.phases if phase in p])
        for phase in (*COST_PHASES, "guard", "detect", "pool_wait")
    }
    totals = [sum(p.get(phase, 0.0) for phase in COST_PHASES) for p in outcome.phases]
    return {
        "files": n_files,
        "tasks": sizes.overhead_tasks,
        "instances": sizes.overhead_instances,
        "repo_setup_s": setup,
        "wall_s": outcome.wall,
        "engine_wall_s": outcome.engine_wall,
        "wall_per_task_ms": outcome.engine_wall * 1000 / sizes.overhead_tasks,
        "phases_ms": per_phase,
        "total_ms": stats(totals),
        "merges_per_s": _per_second(per_phase["merge"]),
        "detect_samples_ms": [p["detect"] for p in outcome.phases if "detect" in p],
    }


def _per_second(ms: Stats) -> float | None:
    median = ms["median"]
    return None if not median else 1000 / float(median)


# ------------------------------------------------------------------- worktree, outside engine
def bench_worktree(root: Path, reps: int) -> dict[str, Any]:
    """Ways to give a task a worktree on a large repository, timed with git directly.

    "full" is what the engine runs today. "sparse" checks out only the task's footprint (the
    index still lists every file, marked skip-worktree, so commits and merges see the whole
    tree). "no-checkout" is the floor: registration and branch, no files. "reuse" re-points one
    existing, clean worktree at the next base (``switch -C``), which rewrites only the files that
    differ: a pool of worktrees. After each, one footprint file is changed and ``collect_work``
    (the engine's commit phase) is timed, since ``add -A`` scans what was checked out.
    """
    base = git(root, "rev-parse", "HEAD").strip()
    # A chain of commits, one file changed each: the successive bases a pool would move along.
    chain = b"".join(
        fast_import_commit(
            "refs/heads/bench/chain",
            f"base {i}",
            {file_path(i * 7 + 3): f"changed {i}\n"},
            parent=base if i == 0 else "",
        )
        for i in range(reps)
    )
    git(root, "fast-import", "--quiet", data=chain)
    bases = git(root, "rev-list", "--reverse", "bench/chain").split()
    pool = root.parent / "wt-pool"
    git(root, "worktree", "add", "--quiet", "--detach", str(pool), base)
    add: dict[str, list[float]] = {m: [] for m in WORKTREE_METHODS}
    commit: dict[str, list[float]] = {m: [] for m in WORKTREE_METHODS}
    checked_out: dict[str, int] = {}
    n_files = _tracked(root)
    with GitRepo.discover(root) as repo:
        for rep in range(reps):
            footprint = file_path((rep * 37 + 11) % max(1, n_files))
            for method in WORKTREE_METHODS:
                branch = f"bench/wt/{method}/{rep}"
                path = pool if method == "reuse" else root.parent / f"wt-{method}-{rep}"
                started = time.perf_counter()
                _create(method, root, path, branch, bases[rep], footprint)
                add[method].append((time.perf_counter() - started) * 1000)
                checked_out[method] = _count_files(path)
                if method == "no-checkout":
                    continue  # nothing is checked out: there is no work to commit
                (path / footprint).write_text(f"task {rep}\n", encoding="utf-8")
                started = time.perf_counter()
                collect_work(repo, worktree=path, branch=branch, base=bases[rep],
                             identity=IDENTITY, message="work")  # fmt: skip
                commit[method].append((time.perf_counter() - started) * 1000)
            for method in ("full", "sparse", "no-checkout"):
                git(root, "worktree", "remove", "--force", str(root.parent / f"wt-{method}-{rep}"))
    git(root, "worktree", "remove", "--force", str(pool))
    full_add = stats(add["full"])["median"]
    full_total = _median_sum(add["full"], commit["full"])
    methods = {}
    for method in WORKTREE_METHODS:
        add_stats, commit_stats = stats(add[method]), stats(commit[method])
        total = _median_sum(add[method], commit[method])
        add_median = add_stats["median"]
        methods[method] = {
            "files_checked_out": checked_out.get(method, 0),
            "add_ms": add_stats,
            "commit_ms": commit_stats,
            "add_plus_commit_ms": total,
            "add_saving_ms": (
                None if full_add is None or add_median is None else full_add - add_median
            ),
            "total_saving_ms": (
                None if full_total is None or total is None else full_total - total
            ),
        }
    return {"files": n_files, "reps": reps, "methods": methods}


def _create(method: str, root: Path, path: Path, branch: str, base: str, footprint: str) -> None:
    """Give ``branch`` (new, at ``base``) a worktree at ``path`` the way ``method`` says."""
    add = ["worktree", "add", "--quiet", "--no-track"]
    if method == "full":
        git(root, *add, "-b", branch, str(path), base)
    elif method == "no-checkout":
        git(root, *add, "--no-checkout", "-b", branch, str(path), base)
    elif method == "sparse":
        git(root, *add, "--no-checkout", "-b", branch, str(path), base)
        git(path, "sparse-checkout", "set", "--no-cone", f"/{footprint}")
        git(path, "checkout", "--quiet")
    elif method == "reuse":  # what the engine does with a pooled worktree (io/worktrees.py)
        git(path, "status", "--porcelain", "-z")
        git(path, "clean", "-ffdqx")
        git(path, "read-tree", "-m", "-u", git(path, "rev-parse", "HEAD").strip(), base)
        git(root, "update-ref", f"refs/heads/{branch}", base, "")
        git(path, "symbolic-ref", "HEAD", f"refs/heads/{branch}")
    else:
        raise ValueError(method)


def _count_files(path: Path) -> int:
    """Files on disk in a worktree, its ``.git`` link file left out."""
    return sum(
        sum(1 for name in names if name != ".git")
        for top, _, names in os.walk(path)
        if ".git" not in Path(top).parts
    )


def _tracked(root: Path) -> int:
    return git(root, "ls-tree", "-r", "--name-only", "-z", "HEAD").count("\0")


def _median_sum(a: Sequence[float], b: Sequence[float]) -> float | None:
    if not a or not b:
        return None
    return statistics.median(x + y for x, y in zip(a, b, strict=True))


# ------------------------------------------------------------------------------- merges
def bench_merges(root: Path, count: int) -> dict[str, Any]:
    """``merge_task`` on ``count`` prepared branches, each changing a different file, one after
    the other into one target: the merger's throughput with the engine and agents taken out."""
    base = git(root, "rev-parse", "HEAD").strip()
    n_files = _tracked(root)
    stream = b"".join(
        fast_import_commit(
            f"refs/heads/bench/merge/{i}",
            f"task {i}",
            {file_path((i * n_files // max(1, count) + 5) % n_files): f"merged {i}\n"},
            parent=base,
        )
        for i in range(count)
    )
    git(root, "fast-import", "--quiet", data=stream)
    target = "refs/heads/bench/merge-target"
    git(root, "update-ref", target, base)
    durations = []
    with GitRepo.discover(root) as repo:
        for i in range(count):
            head = repo.rev_parse(f"refs/heads/bench/merge/{i}")
            assert head is not None
            message = build_merge_message(f"m{i}", f"task {i}", "fake", "bench", [])
            started = time.perf_counter()
            result = merge_task(repo, target, head, message, IDENTITY)
            durations.append((time.perf_counter() - started) * 1000)
            if result.status != "merged":
                raise RuntimeError(f"merge {i} ended {result.status}: {result.conflicts}")
    return {
        "files": n_files,
        "merges": count,
        "ms": stats(durations),
        "merges_per_s": count * 1000 / sum(durations),
    }


# ------------------------------------------------------------------------------- markers
def bench_polling(directory: Path, count: int, window: float, seed: int = 11) -> dict[str, Any]:
    """Marker writes at random moments, seen by a 1 s polling loop and by the watchdog watcher.

    Latency is measured the way the engine measures ``detect``: the time it is noticed minus the
    marker file's mtime. Both observers watch the very same writes, at the same time.
    """
    directory.mkdir(parents=True)
    polled: dict[str, float] = {}
    watched: dict[str, float] = {}
    stop = threading.Event()
    events: queue.Queue[object] = queue.Queue()

    def latency(path: Path) -> float:
        return max(0.0, time.time() - path.stat().st_mtime) * 1000

    def poller() -> None:
        while not stop.is_set():
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.name.endswith(".json") and entry.name not in polled:
                        polled[entry.name] = latency(Path(entry.path))
            stop.wait(POLL_INTERVAL)

    def consumer() -> None:
        while not stop.is_set():
            try:
                seen = events.get(timeout=0.05)
            except queue.Empty:
                continue
            if isinstance(seen, MarkerSeen) and seen.path.name not in watched:
                watched[seen.path.name] = latency(seen.path)

    watcher = MarkerWatcher(directory, events)
    watcher.start()
    threads = [threading.Thread(target=poller), threading.Thread(target=consumer)]
    for thread in threads:
        thread.start()
    rng = random.Random(seed)  # noqa: S311 - reproducible write times, not secrets
    started = time.monotonic()
    for i, offset in enumerate(sorted(rng.uniform(0, window) for _ in range(count))):
        time.sleep(max(0.0, started + offset - time.monotonic()))
        tmp = directory / f".m{i}.tmp"  # atomic, as agents are told to write markers
        tmp.write_text('{"status": "done"}', encoding="utf-8")
        os.replace(tmp, directory / f"m{i}.json")
    deadline = time.monotonic() + 3 * POLL_INTERVAL
    while (len(polled) < count or len(watched) < count) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join()
    watcher.stop()
    return {
        "poll_1s_ms": stats(list(polled.values())),
        "watcher_ms": stats(list(watched.values())),
        # Writes at uniformly random phases of a 1 s loop wait U(0, 1 s): median 500, p95 950.
        "poll_1s_analytic_ms": {"n": 0, "median": 500.0, "p95": 950.0},
    }


# ------------------------------------------------------------------------------- output
def _verdict(median: float | None, goal: float) -> str:
    return "met" if median is not None and median < goal else "MISSED"


def _ms(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(result: Mapping[str, Any]) -> str:
    """Markdown: the machine, then one table per benchmark."""
    m = result["machine"]
    out = [
        "## run: the real engine through the real CLI",
        "",
        f"machine: nproc {m['nproc']}, {m['cpu']}, Python {m['python']}, git {m['git']}, "
        f"{m['platform']}; load average at the start {m.get('load', '-')}; "
        f"total {result['total_s']:.0f} s",
    ]
    par = result["parallel"]
    many, one = par["instances_3"], par["instances_1"]
    goal = par["goal_ratio"]
    verdict = "met" if many["ratio_to_ideal"] <= goal else "MISSED"
    engine_verdict = "met" if many["engine_ratio_to_ideal"] <= goal else "MISSED"
    out += [
        "",
        f"### parallel: {par['tasks']} agents x {par['sleep_s']} s sleep, disjoint footprints",
        "",
        markdown_table(
            [
                "instances",
                "ideal s",
                "CLI wall s",
                "wall / ideal",
                "engine wall s",
                "engine / ideal",
            ],
            [
                [
                    3,
                    par["ideal_s"],
                    many["wall_s"],
                    many["ratio_to_ideal"],
                    many["engine_wall_s"],
                    many["engine_ratio_to_ideal"],
                ],
                [
                    1,
                    par["sum_s"],
                    one["wall_s"],
                    one["ratio_to_sum"],
                    one["engine_wall_s"],
                    one["engine_ratio_to_sum"],
                ],
            ],
        ),
        "",
        f"speedup of 3 over 1: x{par['speedup']:.2f} (at most x3). Goal wall/ideal <= {goal}: "
        f"CLI {verdict}, engine {engine_verdict}. The CLI spends "
        f"{many['wall_s'] - many['engine_wall_s']:.2f} s outside the engine (Python start-up, "
        "lock, specs, plan, target).",
    ]
    small, large = result["overhead"]["small"], result["overhead"]["large"]
    out += render_overhead(result["overhead"])
    wt = result["worktree"]
    rows = []
    for method, data in wt["methods"].items():
        rows.append(
            [
                method,
                data["files_checked_out"],
                _ms(data["add_ms"]["median"]),
                _ms(data["add_ms"]["p95"]),
                _ms(data["commit_ms"]["median"]),
                _ms(data["add_plus_commit_ms"]),
                _ms(data["add_saving_ms"]),
                _ms(data["total_saving_ms"]),
            ]
        )
    out += [
        "",
        f"### worktree: creating a task's worktree on {wt['files']:,} files, git directly, ms "
        f"({wt['reps']} each)",
        "",
        markdown_table(
            [
                "method",
                "files on disk",
                "add median",
                "add p95",
                "commit median",
                "add+commit median",
                "add saving",
                "add+commit saving",
            ],
            rows,
        ),
        "",
        "full = `git worktree add -b B path BASE` (the engine today); sparse = `add --no-checkout`"
        " + `sparse-checkout set --no-cone /<footprint>` + `checkout`; no-checkout = the add "
        "alone (floor); reuse = the engine's warm worktree (`status`, `clean -ffdx`, "
        "`read-tree -m -u HEAD BASE`, new branch) in an existing clean worktree, BASE one commit"
        " further. commit = the engine's `collect_work` after changing one footprint file. "
        f"Engine `worktree` phase on the same size: median "
        f"{_ms(large['phases_ms']['worktree']['median'])} ms.",
    ]
    det = result["detect"]
    rows = [
        [f"engine, {small['files']} files (phases_ms.detect)", *_row(det["engine_small_ms"])],
        [f"engine, {large['files']:,} files", *_row(det["engine_large_ms"])],
        ["engine, parallel run (--instances 3)", *_row(det["engine_parallel_ms"])],
        ["watchdog watcher alone", *_row(det["watcher_ms"])],
        ["1 s polling loop (measured)", *_row(det["poll_1s_ms"])],
        ["1 s polling loop (analytic)", *_row(det["poll_1s_analytic_ms"])],
    ]
    out += [
        "",
        "### detect: marker written (mtime) to task marked done, ms",
        "",
        markdown_table(["observer", "samples", "median", "p95"], rows),
        "",
        f"goal: engine median < {DETECT_GOAL_MS:.0f} ms: "
        + ", ".join(
            f"{name} {_verdict(det[key]['median'], DETECT_GOAL_MS)}"
            for name, key in (
                ("small repository", "engine_small_ms"),
                ("large repository", "engine_large_ms"),
                ("parallel run", "engine_parallel_ms"),
            )
        )
        + ".",
    ]
    mer = result["merge"]
    rows = [
        [
            f"merge_task batch, {mer['files']:,} files",
            mer["merges"],
            _ms(mer["ms"]["median"]),
            _ms(mer["ms"]["p95"]),
            f"{mer['merges_per_s']:.1f}",
        ],
        [
            f"engine phases_ms.merge, {large['files']:,} files",
            large["phases_ms"]["merge"]["n"],
            _ms(large["phases_ms"]["merge"]["median"]),
            _ms(large["phases_ms"]["merge"]["p95"]),
            _rate(large["merges_per_s"]),
        ],
        [
            f"engine phases_ms.merge, {small['files']} files",
            small["phases_ms"]["merge"]["n"],
            _ms(small["phases_ms"]["merge"]["median"]),
            _ms(small["phases_ms"]["merge"]["p95"]),
            _rate(small["merges_per_s"]),
        ],
    ]
    out += [
        "",
        "### merge: merges per second",
        "",
        markdown_table(["source", "merges", "median ms", "p95 ms", "merges/s"], rows),
        "",
        "merge_task batch: total count / total time; engine rows: 1000 / median.",
    ]
    from benchmarks import (  # noqa: PLC0415 - they import this module's helpers
        isolation_bench,
        run_families,
    )

    out += run_families.render(dict(result))
    if "isolation" in result:
        out += isolation_bench.render(dict(result))
    return "\n".join(out)


def render_overhead(overhead: Mapping[str, Any]) -> list[str]:
    """The overhead table and its goals, as Markdown lines."""
    runs = _overhead_runs(overhead)
    out: list[str] = []
    rows = []
    for phase in (*COST_PHASES, "total", "guard", "detect", "pool_wait"):
        if phase == "guard" and any(
            run["phases_ms"].get("guard", {}).get("median") is None for _, run, _ in runs
        ):
            continue  # a result from before the guard was timed
        row = [
            {
                "total": "**total (coordinator cost)**",
                "guard": "look at your checkout (job time, beside the cost)",
                "detect": "detect (latency, not cost)",
                "pool_wait": "waiting for a worktree to come back (latency)",
            }.get(phase, phase)
        ]
        for _, run, _ in runs:
            data = run["total_ms"] if phase == "total" else run["phases_ms"][phase]
            row += [_ms(data["median"]), _ms(data["p95"])]
        rows.append(row)
    rows.append(
        ["wall per task (engine wall / tasks)"]
        + [cell for _, run, _ in runs for cell in (_ms(run["wall_per_task_ms"]), "")]
    )
    verdicts = [
        f"{label}: {_ms(run['total_ms']['median'])} ms against {goal:.0f}, "
        + _verdict(run["total_ms"]["median"], goal)
        for label, run, goal in runs
        if goal is not None
    ]
    first = runs[0][1]
    out += [
        "",
        f"### overhead: coordinator time per task by phase, ms ({first['tasks']} tasks each, "
        f"--instances {first['instances']}, agents mark done at once)",
        "",
        markdown_table(
            ["phase"] + [h for label, _, _ in runs for h in (f"{label} median", "p95")], rows
        ),
        "",
        "goals (median): " + "; ".join(verdicts) + ". Full checkouts reuse warm worktrees "
        "(`worktree_pool`, default one per instance); the first tasks of a run get fresh ones. "
        "Wall per task also holds the agent's own life (Python start-up; the agent would "
        f"live {LINGER} s after its marker, but is stopped when its marker is read).",
    ]
    return out


def _overhead_runs(overhead: Mapping[str, Any]) -> list[tuple[str, Any, float | None]]:
    """(column label, run, goal in ms or None) of every overhead run that was made."""
    labels: list[tuple[str, str, float | None]] = [
        ("small", "{:} files", None),
        ("large", "{:,} files", OVERHEAD_GOAL_MS),
        ("large_sparse", "{:,} files, sparse", OVERHEAD_GOAL_MS),
        ("huge", "{:,} files", HUGE_GOAL_MS),
    ]
    return [(label.format(overhead[key]["files"]), overhead[key], goal)
            for key, label, goal in labels if overhead.get(key)]  # fmt: skip


def _row(s: Mapping[str, Any]) -> list[str]:
    return [str(s["n"]) if s["n"] else "-", _ms(s["median"]), _ms(s["p95"])]


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


# --------------------------------------------------------------------------------- main
OVERHEAD_RUNS = ("small", "large", "sparse", "huge")


def measure_overhead(
    sizes: Sizes, work: Path, only: Sequence[str] = OVERHEAD_RUNS
) -> dict[str, Any]:
    """The overhead family alone (``--only overhead``): the four repositories of its table, or
    the ones named in ``only`` (``--overhead-runs``: one size measured again costs less)."""
    started = time.perf_counter()
    result: dict[str, Any] = {"machine": machine(), "sizes": _sizes_dict(sizes)}
    made: dict[str, Callable[[], dict[str, Any]]] = {
        "small": lambda: bench_overhead(work / "overhead-small", sizes.small_files, sizes),
        "large": lambda: bench_overhead(work / "overhead-large", sizes.big_files, sizes),
        "large_sparse": lambda: bench_overhead(
            work / "overhead-sparse", sizes.big_files, sizes, "sparse"
        ),
        "huge": lambda: bench_overhead(work / "overhead-huge", sizes.huge_files, sizes),
    }
    wanted = {"sparse": "large_sparse"}
    picked = {wanted.get(name, name) for name in only}
    if not sizes.huge_files:
        picked.discard("huge")
    runs = {key: (make() if key in picked else None) for key, make in made.items()}
    for run in runs.values():
        if run is not None:
            run.pop("detect_samples_ms")
    result["overhead"] = {**runs, "goal_ms": OVERHEAD_GOAL_MS, "goal_huge_ms": HUGE_GOAL_MS}
    result["total_s"] = time.perf_counter() - started
    return result


def render_only_overhead(result: Mapping[str, Any]) -> str:
    m = result["machine"]
    head = [
        "## run --only overhead: the real engine through the real CLI",
        "",
        f"machine: nproc {m['nproc']}, {m['cpu']}, Python {m['python']}, git {m['git']}, "
        f"{m['platform']}; load average at the start {m.get('load', '-')}; "
        f"total {result['total_s']:.0f} s",
    ]
    return "\n".join(head + render_overhead(result["overhead"]))


def measure(sizes: Sizes, work: Path) -> dict[str, Any]:
    """Every benchmark, in an order that keeps each one's repository to itself."""
    started = time.perf_counter()
    result: dict[str, Any] = {"machine": machine(), "sizes": _sizes_dict(sizes)}
    from benchmarks import (  # noqa: PLC0415 - they import this module's helpers
        isolation_bench,
        run_families,
    )

    parallel = bench_parallel(work, sizes)
    result["linger"] = run_families.bench_linger(work, sizes)
    result["gate"] = run_families.bench_gate(work, sizes, parallel)
    result["isolation"] = isolation_bench.bench_isolation(work, sizes)
    small = bench_overhead(work / "overhead-small", sizes.small_files, sizes)
    large = bench_overhead(work / "overhead-large", sizes.big_files, sizes)
    sparse = bench_overhead(work / "overhead-sparse", sizes.big_files, sizes, "sparse")
    huge = None
    if sizes.huge_files:
        huge = bench_overhead(work / "overhead-huge", sizes.huge_files, sizes)
        huge.pop("detect_samples_ms")
        shutil.rmtree(work / "overhead-huge", ignore_errors=True)  # 100,000s of files: go now
    sparse.pop("detect_samples_ms")
    # A separate large repository (no checkout needed: everything below reads the object store
    # or makes its own worktrees), so sparse-checkout settings never touch the engine's repo.
    direct = work / "direct" / "repo"
    make_repo(direct, sizes.big_files, {}, checkout=False)
    log(f"worktree: {sizes.reps} x {len(WORKTREE_METHODS)} methods on {sizes.big_files} files")
    result["worktree"] = bench_worktree(direct, sizes.reps)
    log(f"merge: {sizes.merges} merge_task calls")
    result["merge"] = bench_merges(direct, sizes.merges)
    log(f"detect: {sizes.markers} marker writes over {sizes.window} s")
    polling = bench_polling(work / "markers", sizes.markers, sizes.window)
    result["detect"] = {
        "engine_small_ms": stats(small.pop("detect_samples_ms")),
        "engine_large_ms": stats(large.pop("detect_samples_ms")),
        "engine_parallel_ms": stats(parallel.pop("detect_ms")),
        **polling,
        "goal_ms": DETECT_GOAL_MS,
    }
    result["parallel"] = parallel
    result["overhead"] = {
        "small": small,
        "large": large,
        "large_sparse": sparse,
        "huge": huge,
        "goal_ms": OVERHEAD_GOAL_MS,
        "goal_huge_ms": HUGE_GOAL_MS,
    }
    result["total_s"] = time.perf_counter() - started
    return result


def _sizes_dict(sizes: Sizes) -> dict[str, Any]:
    return {f.name: getattr(sizes, f.name) for f in fields(sizes)}


def main(argv: Sequence[str] | None = None) -> int:
    if argv and any(a == "--executor" or a.startswith("--executor=") for a in argv):
        from benchmarks import ray_bench  # noqa: PLC0415 - needs the ray extra

        return ray_bench.main(list(argv))
    parser = bench_parser("scripts/bench run", __doc__, "small sizes: about a minute", keep=True)
    parser.add_argument("--only", choices=["overhead"], help="run one family only")
    parser.add_argument(
        "--overhead-runs",
        nargs="+",
        choices=OVERHEAD_RUNS,
        default=list(OVERHEAD_RUNS),
        help="with --only overhead: which repositories (default: all four)",
    )
    sizes_help = {
        "tasks": "parallel: sleeping agents",
        "sleep": "parallel: seconds each sleeps",
        "overhead_tasks": "overhead: tasks per repository",
        "overhead_instances": "overhead: --instances of those runs",
        "small_files": "files of the small repository",
        "big_files": "files of the large one",
        "huge_files": "files of the huge one (0: skip that run; default 100000, --quick 0)",
        "reps": "worktree: creations per method",
        "merges": "merge: merge_task calls",
        "markers": "detect: marker writes for the polling baseline",
        "window": "detect: seconds those writes are spread over",
        "gate": "gate: seconds the merge gate takes",
    }
    for f in fields(Sizes):
        kind = float if f.name in ("sleep", "window", "gate") else int
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=kind, help=sizes_help[f.name])
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    overrides = {f.name: getattr(args, f.name) for f in fields(Sizes)}
    sizes = replace(sizes, **{k: v for k, v in overrides.items() if v is not None})
    # In-process git (GitRepo, merge_task) must see the same clean config as the subprocesses.
    for key in [k for k in os.environ if k.startswith("GIT_")]:
        del os.environ[key]
    os.environ.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    work = Path(tempfile.mkdtemp(prefix="coordinator-bench-run-"))
    try:
        if args.only == "overhead":
            result = measure_overhead(sizes, work, args.overhead_runs)
            emit(result, render_only_overhead(result), args.json)
        else:
            result = measure(sizes, work)
            emit(result, render(result), args.json)
        sys.stdout.flush()
    finally:
        # After printing: deleting tens of thousands of worktree files can take longer than
        # the benchmark itself on a slow disk, and the figures should not wait for it.
        if args.keep:
            log(f"kept {work}")
        else:
            log(f"removing {work}")
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
