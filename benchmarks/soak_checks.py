"""What ``scripts/bench soak`` checks once its runs are over: every task ended exactly once,
nothing was lost, and no agent outlived the run.

Why read three sources: the store says how each run saw its tasks end, the target's
first-parent history says what landed (a task's ``Coordinator-Task`` trailer is the proof the
coordinator itself trusts), and the branches say where unmerged work went. A bug in recovery
shows up as a disagreement between them (a task merged twice, a failed task whose branch is
gone, a run still ``running``), so each check compares them rather than trusting one.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from benchmarks.run_bench import git
from coordinator.engine.recovery import ADOPTED_BY
from coordinator.io.runfiles import store_path
from coordinator.io.store import Store

TARGET = "coordinator/integration"
LANDS = frozenset({"good", "spew", "fork"})  # behaviours whose work must land
FAILS = frozenset({"hang", "crash", "outside"})  # ... and those that must fail, branch kept
TERMINAL = frozenset({"merged", "failed", "conflict", "cancelled", "skipped"})
UNFINISHED = frozenset({"running", "done", "merging", "verifying"})
SHOWN = 8  # problems of one kind spelled out; the rest are counted


@dataclass
class Verdict:
    """The checks' outcome: each problem is one line; no problem means every check held."""

    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, what: str, items: Sequence[str]) -> None:
        if items:
            shown = ", ".join(items[:SHOWN])
            more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
            self.problems.append(f"{what} ({len(items)}): {shown}{more}")

    @property
    def ok(self) -> bool:
        return not self.problems


def check_soak(root: Path, behaviours: Mapping[str, str], marked: Path) -> Verdict:
    """Every check on the repository at ``root`` whose tasks behave as ``behaviours`` says;
    ``marked`` lists the tasks whose agents wrote their done marker, once per time."""
    verdict = Verdict()
    said = collections.Counter(_lines(marked))
    verdict.add(
        "agents run again after their done marker",
        sorted(f"{t} x{n}" for t, n in said.items() if n > 1 and behaviours[t] in LANDS),
    )
    old = git(root, "for-each-ref", "--format=%(refname:short)", "refs/heads/coordinator/old")
    verdict.figures["set_aside"] = len(old.split())
    landed = _merge_counts(root)
    _check_merges(verdict, root, behaviours, landed)
    with Store.open_readonly(store_path(root / ".git")) as store:
        _check_store(verdict, root, store, behaviours, landed)
    _check_unreachable(verdict, root)
    return verdict


def _merge_counts(root: Path) -> collections.Counter[str]:
    log = git(root, "log", "--first-parent", "--format=%H %(trailers:key=Coordinator-Task,"
              "valueonly,separator=%x2C)", TARGET)  # fmt: skip
    counts: collections.Counter[str] = collections.Counter()
    for line in log.splitlines():
        _sha, _, task = line.partition(" ")
        if task.strip():
            counts[task.strip()] += 1
    return counts


def _check_merges(
    verdict: Verdict, root: Path, behaviours: Mapping[str, str], landed: Mapping[str, int]
) -> None:
    """Each task that must land landed once, with its work; no other task landed."""
    twice = [f"{t} x{n}" for t, n in sorted(landed.items()) if n > 1]
    verdict.add("merged more than once", twice)
    must = sorted(t for t, b in behaviours.items() if b in LANDS)
    verdict.add("never merged", [t for t in must if not landed.get(t)])
    wrongly = sorted(t for t, b in behaviours.items() if b in FAILS and landed.get(t))
    verdict.add("merged but should have failed", wrongly)
    verdict.add("merged but not a task of the soak", sorted(set(landed) - set(behaviours)))
    tree = git(root, "ls-tree", "-r", "--name-only", TARGET).split()
    files = set(tree)
    verdict.add("merged without its file", [t for t in must if f"out/{t}.txt" not in files])
    verdict.add("stray files on the target", sorted(p for p in files if p.startswith("stray/")))
    contents = _contents(root, [f"out/{t}.txt" for t in must if f"out/{t}.txt" in files])
    verdict.add("file with the wrong content",
                [p for p, text in contents.items() if text != f"{Path(p).stem}\n"])  # fmt: skip
    verdict.figures["merged"] = sum(1 for n in landed.values() if n)


def _contents(root: Path, paths: Sequence[str]) -> dict[str, str]:
    """Many blobs of the target in one ``git cat-file --batch`` process."""
    if not paths:
        return {}
    data = "".join(f"{TARGET}:{p}\n" for p in paths).encode()
    out = git(root, "cat-file", "--batch", data=data)
    texts: dict[str, str] = {}
    pos = 0
    for path in paths:
        header_end = out.index("\n", pos)
        size = int(out[pos:header_end].split()[2])
        texts[path] = out[header_end + 1 : header_end + 1 + size]
        pos = header_end + 1 + size + 1
    return texts


def _check_store(
    verdict: Verdict,
    root: Path,
    store: Store,
    behaviours: Mapping[str, str],
    landed: Mapping[str, int],
) -> None:
    """Every run closed; in each run a started task ended once; the last word on each task
    agrees with the target; every failed or interrupted task's branch is kept."""
    branches = set(git(root, "for-each-ref", "--format=%(refname:short)", "refs/heads").split())
    open_runs, unfinished, twice, lost, wrong = [], [], [], [], []
    failed_runs: collections.Counter[str] = collections.Counter()
    interrupted = 0
    for run_id in store.run_ids():
        run = store.run(run_id)
        if run is None or run.state == "running":
            open_runs.append(run_id)
        ends: collections.Counter[str] = collections.Counter(
            e.task_id for e in store.events(run_id) if e.kind in TERMINAL and e.task_id
        )
        twice += [f"{t} in {run_id} x{n}" for t, n in ends.items() if n > 1]
        for task in store.tasks(run_id):
            handed_on = task.state == "done" and (task.reason or "").startswith(ADOPTED_BY)
            if task.state in UNFINISHED and not handed_on:
                unfinished.append(f"{task.task_id} {task.state} in {run_id}")
            if task.state == "failed":
                failed_runs[task.task_id] += 1
            if task.state in {"failed", "cancelled", "conflict"} and task.branch:
                interrupted += task.state == "cancelled"
                if task.branch not in branches:
                    lost.append(f"{task.task_id} ({task.state} in {run_id}): {task.branch}")
    for task_id, record in sorted(store.latest_task_records().items()):
        behaviour = behaviours.get(task_id)
        want = "merged" if behaviour in LANDS else "failed"
        if record.state != want:
            wrong.append(f"{task_id} ({behaviour}) {record.state}, expected {want}")
        elif want == "merged" and not landed.get(task_id):
            wrong.append(f"{task_id} merged in the store, not on {TARGET}")
    missing = sorted(set(behaviours) - set(store.latest_task_records()))
    verdict.add("runs still open", open_runs)
    verdict.add("tasks left unfinished in a closed run", unfinished)
    verdict.add("tasks that ended more than once in one run", twice)
    verdict.add("kept branches that are gone", lost)
    verdict.add("tasks whose last state is wrong", wrong)
    verdict.add("tasks never recorded", missing)
    verdict.figures.update(
        runs=len(store.run_ids()),
        failed=sum(1 for t, b in behaviours.items() if b in FAILS),
        failed_records=sum(failed_runs.values()),
        interrupted_records=interrupted,
    )


def _check_unreachable(verdict: Verdict, root: Path) -> None:
    """No task commit was lost: an unreachable commit is either a merge cut off before
    ``update-ref`` or a commit made again, with the same tree, after a crash cut it off."""
    fsck = git(root, "fsck", "--unreachable", "--no-reflogs", "--no-progress")
    kept = set(git(root, "log", "--all", "--format=%T").split())
    lost = []
    for line in fsck.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[1] != "commit":
            continue
        parents, tree = git(root, "log", "-1", "--format=%P%n%T", parts[2]).splitlines()
        if len(parents.split()) != 2 and tree not in kept:
            lost.append(parts[2][:12])
    verdict.add("commits lost (unreachable, their tree nowhere else)", lost)


# ------------------------------------------------------------------------- processes
def soak_processes(token: str, work: Path) -> list[psutil.Process]:
    """Live processes of the soak: those carrying its token in their environment (every agent
    and everything they start inherits it) or running in its directories."""
    me = os.getpid()
    prefix = str(work.resolve()) + os.sep
    found = []
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            ours = proc.environ().get("SOAK_TOKEN") == token
            ours = ours or (proc.cwd() + os.sep).startswith(prefix)
        except psutil.Error:
            continue
        if ours:
            found.append(proc)
    return found


def describe(procs: Sequence[psutil.Process]) -> list[str]:
    out = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            out.append(f"pid {proc.pid} ppid {proc.ppid()}: {' '.join(proc.cmdline())[:160]}")
    return out


def kill_all(procs: Sequence[psutil.Process]) -> None:
    """The benchmark cleans up after a failed check: nothing it started stays behind."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").split()
    except OSError:
        return []


def recorded_pids(path: Path) -> list[int]:
    try:
        return [int(p) for p in path.read_text(encoding="utf-8").split()]
    except (OSError, ValueError):
        return []


def as_json(verdict: Verdict) -> dict[str, Any]:
    return {"ok": verdict.ok, "problems": verdict.problems, **json.loads(json.dumps(
        verdict.figures))}  # fmt: skip
