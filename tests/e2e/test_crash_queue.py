"""Kill the coordinator (SIGKILL) at the merge queue's newer fault points, mid-bisection and
mid-resolution, run again, and prove that every task lands once, nothing lands that no gate
saw, no gate or resolver outlives the run, and no scratch checkout or resolving branch is left.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from e2e_util import (
    QUICK_GRACE_CONFIG,
    E2EProject,
    alive,
    conflicting_pair,
    new_project,
    wait_until,
)

from coordinator.io.runfiles import store_path
from coordinator.io.store import Store


def _make(root: Path, extra_config: str) -> E2EProject:
    return new_project(root, QUICK_GRACE_CONFIG + extra_config)


def _env(extra: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | extra


def _crash(e2e: E2EProject, fault: str, *args: str, **extra: str) -> None:
    env = _env({"COORDINATOR_FAULT": fault, **extra})
    crashed = subprocess.run(
        [sys.executable, "-m", "coordinator.cli", "run", *args],
        cwd=e2e.root, capture_output=True, text=True, timeout=180, env=env, check=False,
    )  # fmt: skip
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr


def _landed(e2e: E2EProject) -> collections.Counter[str]:
    log = e2e.git(
        "log", "--first-parent", "--format=%(trailers:key=Coordinator-Task,valueonly)",
        "coordinator/integration",
    )  # fmt: skip
    return collections.Counter(line.strip() for line in log.splitlines() if line.strip())


def _scratch_left(e2e: E2EProject) -> list[str]:
    """Registered worktrees that are a gate's or a resolver's scratch checkout."""
    return [
        line
        for line in e2e.git("worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ") and Path(line.split(" ", 1)[1]).name.startswith(
            (".verify-", ".resolve-")
        )
    ]


def _pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


# ------------------------------------------------------------------ mid-bisection
# The gate records its pid and the commit it checks, then fails a tree holding bad.txt. z's gate
# (a tree without p..s) first tells p..s to finish, then holds until all four wait to merge, so
# that they form one batch of four. With GATE_HANGS, a probe of the batch's left half (p, but
# not r) hangs as a slow test suite would, so that only recovery can stop it.
GATE = """
import json, os, subprocess, sys, time
pids, heads, sig, root = sys.argv[1:5]
open(pids, "a").write(f"{os.getpid()}\\n")
head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
open(heads, "a").write(head)
if not any(os.path.exists(f"{t}.txt") for t in "pqrs"):
    open(os.path.join(sig, "z-gate"), "w").close()
    deadline = time.time() + 60
    while time.time() < deadline:
        out = subprocess.run([sys.executable, "-m", "coordinator.cli", "-C", root, "status",
                              "--json"], capture_output=True, text=True).stdout
        try:
            states = {t["id"]: t["state"] for t in json.loads(out)["tasks"]}
        except ValueError:
            states = {}
        if all(states.get(t) == "merging" for t in "pqrs"):
            break
        time.sleep(0.2)
if os.environ.get("GATE_HANGS") and os.path.exists("p.txt") and not os.path.exists("r.txt"):
    time.sleep(120)
sys.exit(1 if os.path.exists("bad.txt") else 0)
"""

BISECT_TRIALS = [
    ("queue-bisect-started", 1),  # the batch p+q+r+s failed; nothing of it landed
    ("queue-probe-running", 1),  # the probe p+q's gate runs (and hangs)
]


@pytest.mark.slow
@pytest.mark.parametrize(("point", "nth"), BISECT_TRIALS, ids=[p for p, _ in BISECT_TRIALS])
def test_a_bisection_cut_off_resumes_landing_every_good_task_once_after_a_gate(
    tmp_path: Path, point: str, nth: int
) -> None:
    root = tmp_path / "repo"
    pids, heads, sig = tmp_path / "gate-pids", tmp_path / "gate-heads", tmp_path / "sig"
    sig.mkdir()
    verify = json.dumps([sys.executable, "-c", GATE, str(pids), str(heads), str(sig), str(root)])
    e2e = _make(root, f"\n[merge]\nverify = {verify}\nbatch = 4\n")
    e2e.spec("z", "@write z.txt z\n@marker done", files=["z.txt"])
    for me in "pqrs":
        bad = "@write bad.txt x\n" if me == "q" else ""
        body = f"@wait {sig}/z-gate 60\n{bad}@write {me}.txt {me}\n@marker done"
        e2e.spec(me, body, files=[f"{me}.txt"], extra="footprint: declared")

    _crash(e2e, f"{point}:{nth}", "--instances", "5", GATE_HANGS="1")
    cut = e2e.status()
    assert cut["state"] == "running"  # cut off: its queue is what it was at the crash
    queue = cut["queue"]
    if point == "queue-probe-running":
        assert queue["bisecting"] == ["p", "q", "r", "s"], queue
        assert queue["probe"] is True
        assert [g["tasks"] for g in queue["round"]] == [["p", "q"]]
        hung = _pids(pids)[-1]
        assert alive(hung)  # the probe's gate outlived its coordinator
    else:
        assert [g["tasks"] for g in queue["round"]] == [["p", "q", "r", "s"]], queue
    assert _landed(e2e) == {"z": 1}

    resumed = e2e.cli("run", "--instances", "5")
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr  # q failed its gate
    assert _landed(e2e) == {"z": 1, "p": 1, "r": 1, "s": 1}
    states = {t: v["state"] for t, v in e2e.tasks().items()}  # the resumed run's: z landed
    assert states == {"p": "merged", "q": "failed", "r": "merged", "s": "merged"}
    assert "bad.txt" not in e2e.git("ls-tree", "--name-only", "coordinator/integration")
    # Nothing landed that no gate saw: the target's head is a commit a passing gate checked.
    assert e2e.git("rev-parse", "coordinator/integration").strip() in heads.read_text().split()
    for pid in _pids(pids):
        assert not alive(pid), f"gate {pid} outlived the run"
    assert _scratch_left(e2e) == []
    done = e2e.status()
    assert done["queue"]["bisecting"] == [] and done["queue"]["waiting"] == []
    assert done["queue"]["batch"] == 4


# ----------------------------------------------------------------- mid-resolution
# The resolver records its pid, hangs with RESOLVER_HANGS (only recovery can stop it), then
# resolves union-style as the demo agent does.
RESOLVER = """
import os, sys, time
open(sys.argv[1], "a").write(str(os.getpid()) + "\\n")
if os.environ.get("RESOLVER_HANGS"):
    time.sleep(120)
from coordinator.demo_agent import main
sys.exit(main([sys.argv[2]]))
"""

RESOLVE_POINTS = [
    "resolver-running",
    "resolution-between-gate-and-update-ref",
    "resolution-after-update-ref",
]


def _resolve_project(tmp_path: Path) -> tuple[E2EProject, Path]:
    """x and y rewrite the same line of f.txt; y lies about its footprint, runs beside x and
    waits for x's merge on its first attempt, so its merge conflicts and goes to the resolver."""
    pids = tmp_path / "resolver-pids"
    command = json.dumps(["{python}", "-c", RESOLVER, str(pids), "{spec}"])
    config = f'\n[agents.fixer]\ncommand = {command}\n\n[merge]\nresolver = "fixer"\n'
    e2e = _make(tmp_path / "repo", config)
    e2e.config('on_conflict = "resolve"\n' + (e2e.root / "coordinator.toml").read_text())
    conflicting_pair(e2e)
    return e2e, pids


def _resolving_branches(e2e: E2EProject) -> list[str]:
    refs = e2e.git("for-each-ref", "--format=%(refname:short)", "refs/heads/coordinator/resolving/")
    return refs.split()


@pytest.mark.slow
@pytest.mark.parametrize("point", RESOLVE_POINTS)
def test_a_resolution_cut_off_resumes_without_a_stale_branch_or_a_second_merge(
    tmp_path: Path, point: str
) -> None:
    e2e, pids = _resolve_project(tmp_path)
    hangs = {"RESOLVER_HANGS": "1"} if point == "resolver-running" else {}
    _crash(e2e, f"{point}:1", **hangs)
    assert _resolving_branches(e2e), "the cut-off resolution left no branch to clean"
    cut: dict[str, Any] = e2e.tasks()
    if point == "resolver-running":
        assert cut["y"]["state"] == "resolving"
        assert e2e.status()["queue"]["resolving"] == ["y"]
        text = e2e.cli("status").stdout
        assert "resolving" in text and "queue: resolving y" in text, text
        wait_until("the resolver's pid", lambda: bool(_pids(pids)))
        assert alive(_pids(pids)[0])  # it outlived its coordinator: only recovery can stop it
        cleaned = e2e.cli("clean")  # the run is unfinished: its resolution is the run's
        assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
        assert _resolving_branches(e2e)
        assert "next `coordinator run` recovers it" in cleaned.stdout

    resumed = e2e.cli("run")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _landed(e2e) == {"x": 1, "y": 1}
    assert e2e.git("show", "coordinator/integration:f.txt") == "top\nfrom x\nfrom y\nbottom\n"
    body = e2e.git("log", "-1", "--format=%B", "coordinator/integration")
    assert "Coordinator-Task: y" in body and "Coordinator-Resolved-By: fixer" in body
    assert _resolving_branches(e2e) == []
    assert _scratch_left(e2e) == []
    for pid in _pids(pids):
        assert not alive(pid), f"resolver {pid} outlived the run"
    assert e2e.tasks()["y"]["state"] == "merged"


@pytest.mark.slow
def test_clean_removes_a_resolution_its_finished_run_left(tmp_path: Path) -> None:
    """A resolving branch and checkout whose run is over (recovered, or an older version's
    leftovers) are scratch: ``clean`` removes them and says so."""
    e2e, _ = _resolve_project(tmp_path)
    _crash(e2e, "resolution-between-gate-and-update-ref:1")
    [stale] = _resolving_branches(e2e)
    run_id = e2e.status()["run_id"]
    # Close the cut-off run the way recovery's bookkeeping does, but leave its leftovers.
    with Store(store_path(e2e.root / ".git")) as store:
        store.finish_run(run_id, state="crashed", finished_at=0.0, summary={})
    cleaned = e2e.cli("clean")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert f"removed {stale}" in cleaned.stdout
    assert _resolving_branches(e2e) == []
    assert _scratch_left(e2e) == []
