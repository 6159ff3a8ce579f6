"""Kill the coordinator (SIGKILL) at every named fault point, run again, and prove nothing was
lost or done twice: the final tree equals an uninterrupted run's, every task merged exactly once,
no task commit unreachable, no agent left alive, and no worktree git does not know about."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_util import FAKE_CONFIG, QUICK_GRACE_CONFIG, E2EProject, alive, new_project, wait_until

from coordinator.io.faults import POINTS, RECOVERING

# Every point at its first hits, and the last merge of all (after which the resumed run finds
# nothing left to run and must still reconcile the cut-off run). A branch is kept once per run
# (g and h conflict once); the gate's point needs a gate (its own test below).
HITS = {"agent-stopped": (1, 3), "merge-queued": (1, 3), "after-branch-kept": (1,),
        "pool-taken": (1, 2, 3)}  # fmt: skip
GATED = {  # points that need a gate or a resolver: tests of their own (test_crash_queue.py)
    "gate-running",
    "queue-gates-judged",
    "queue-between-gate-and-update-ref",
    "queue-after-update-ref",
    "queue-bisect-started",
    "queue-probe-running",
    "resolver-running",
    "resolution-between-gate-and-update-ref",
    "resolution-after-update-ref",
}
TRIALS = [
    (point, nth)
    for point in POINTS
    if point not in GATED | set(RECOVERING)  # those need a cut-off run: test_crash_recovery
    for nth in HITS.get(point, (1, 2, 3, 4))
] + [("after-update-ref", 8)]
SORTED = {"shared.txt", "shared2.txt"}  # files whose line order depends on timing


def _specs(e2e: E2EProject, pids: Path) -> None:
    pid = f"@pid {pids}\n"
    e2e.spec("a", pid + "@sleep 0.1\n@write a.txt a\n@marker done a", files=["a.txt"])
    e2e.spec("b", pid + "@write b.txt b\n@sleep 0.2\n@marker done b", files=["b.txt"], deps=["a"])
    e2e.spec("c", pid + "@write c.txt c\n@commit c by itself\n@marker done c", files=["c.txt"])
    e2e.spec("d", pid + "@write d.txt d\n@sleep 0.1", files=["d.txt"], deps=["b", "c"])
    e2e.spec("e", pid + "@append shared.txt e\n@marker done e", files=["shared.txt"])
    e2e.spec("f", pid + "@sleep 0.2\n@append shared.txt f\n@marker done f", files=["shared.txt"])
    # g and h run side by side (each waits for the other) and both add shared2.txt, which
    # neither declares: the second to merge conflicts, is kept, and lands on its retry.
    sig = pids.parent / "sig"
    sig.mkdir(exist_ok=True)
    for me, other in (("g", "h"), ("h", "g")):
        body = f"@touch {sig}/{me}\n@wait {sig}/{other} 60\n@append shared2.txt {me}\n@marker done"
        e2e.spec(me, pid + body, files=[f"{me}.txt"], extra="footprint: declared")


def _target_tree(e2e: E2EProject) -> str:
    return e2e.git("rev-parse", "coordinator/integration^{tree}").strip()


@pytest.fixture(scope="module")
def reference_tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Final file contents of an uninterrupted run (shared.txt order may differ: e/f conflict)."""
    root = tmp_path_factory.mktemp("reference") / "repo"
    root.mkdir()
    e2e = _make(root)
    _specs(e2e, root.parent / "pids")
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    return _contents(e2e)


def _make(root: Path) -> E2EProject:
    return new_project(root, QUICK_GRACE_CONFIG)


def _contents(e2e: E2EProject) -> dict[str, str]:
    names = e2e.git("ls-tree", "-r", "--name-only", "coordinator/integration").split()
    out = {}
    for name in names:
        text = e2e.git("show", f"coordinator/integration:{name}")
        out[name] = "".join(sorted(text.splitlines(keepends=True))) if name in SORTED else text
    return out


def _run_with_fault(
    e2e: E2EProject, fault: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | (extra or {})
    env["COORDINATOR_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "coordinator.cli", "run"],
        cwd=e2e.root,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


@pytest.mark.parametrize(("point", "nth"), TRIALS, ids=[f"{p}-{n}" for p, n in TRIALS])
def test_killed_coordinator_resumes_without_loss_or_duplicates(
    tmp_path: Path, reference_tree: dict[str, str], point: str, nth: int
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    e2e = _make(root)
    pids = tmp_path / "pids"
    _specs(e2e, pids)

    crashed = _run_with_fault(e2e, f"{point}:{nth}")
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr

    resumed = e2e.cli("run")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _contents(e2e) == reference_tree

    log = e2e.git(
        "log",
        "--first-parent",
        "--format=%(trailers:key=Coordinator-Task,valueonly)",
        "coordinator/integration",
    )
    merged = collections.Counter(line.strip() for line in log.splitlines() if line.strip())
    assert merged == dict.fromkeys("abcdefgh", 1)

    # No task commit was lost. Unreachable commits are merges cut off before update-ref, or
    # (jobs run side by side, so the crash may cut one halfway) a commit of an agent's
    # leftovers made just before the crash and made again, with the same tree, on resuming.
    fsck = e2e.git("fsck", "--unreachable", "--no-reflogs", "--no-progress")
    kept_trees = set(e2e.git("log", "--all", "--format=%T").split())
    for line in fsck.splitlines():
        kind, sha = line.split()[1:3]
        if kind == "commit":
            parents, tree = e2e.git("log", "-1", "--format=%P%n%T", sha).splitlines()
            redone = tree in kept_trees
            assert len(parents.split()) == 2 or redone, f"lost {e2e.git('log', '-1', sha)}"

    for pid in map(int, pids.read_text().split()):
        assert not alive(pid), f"agent {pid} outlived the run"

    last = e2e.status()  # the resumed run, or the cut-off one when nothing was left to run
    assert last["state"] != "running"
    unfinished = {"running", "done", "merging", "verifying", "pending"}
    assert not {t["state"] for t in last["tasks"]} & unfinished, last

    known = _known_worktrees(e2e)
    pooled = _pool_record(root)
    assert pooled and all(p in known for p in pooled), (pooled, known)  # the record is true

    assert e2e.cli("clean").returncode == 0
    known = _known_worktrees(e2e)
    left = (
        [p.resolve() for p in (root / "worktrees").iterdir()]
        if (root / "worktrees").exists()
        else []
    )
    assert all(p in known for p in left), left
    assert not [p for p in left if p.name.startswith(".pool-")]
    assert _pool_record(root) == []


def _known_worktrees(e2e: E2EProject) -> set[Path]:
    return {
        Path(line.split(" ", 1)[1]).resolve()
        for line in e2e.git("worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    }


def _pool_record(root: Path) -> list[Path]:
    record = root / ".git" / "coordinator" / "worktree-pool.json"
    if not record.exists():
        return []
    data = json.loads(record.read_text(encoding="utf-8"))
    return [Path(entry["path"]).resolve() for entry in data["worktrees"]]


def test_an_agent_started_just_before_the_crash_is_found_and_killed(tmp_path: Path) -> None:
    """Killed between starting an agent and storing its pid: the next run still finds that
    agent (by its environment) and kills it before starting the task again."""
    root = tmp_path / "repo"
    root.mkdir()
    e2e = _make(root)
    pids, release = tmp_path / "pids", tmp_path / "release"
    e2e.spec("h", f"@pid {pids}\n@wait {release} 60\n@write h.txt h", files=["h.txt"])

    crashed = _run_with_fault(e2e, "agent-started:1")
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    wait_until("the agent's start", lambda: pids.exists() and bool(pids.read_text().split()))
    orphan = int(pids.read_text().split()[0])
    assert alive(orphan)

    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    resumed = subprocess.Popen(
        [sys.executable, "-m", "coordinator.cli", "run"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until("the task's second start", lambda: len(pids.read_text().split()) == 2)
        assert not alive(orphan), "the first agent was left running beside the second"
    finally:
        release.touch()
        out, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, out
    assert "leftover agent" in out
    assert e2e.git("show", "coordinator/integration:h.txt") == "h\n"


@pytest.mark.parametrize("point", ["after-marker-seen", "after-commit"])
def test_finished_work_is_adopted_without_rerunning_the_agent(tmp_path: Path, point: str) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    e2e = _make(root)
    starts = tmp_path / "starts"
    e2e.spec(
        "once", f"@append {starts} started\n@write once.txt 1\n@marker done", files=["once.txt"]
    )
    crashed = _run_with_fault(e2e, f"{point}:1")
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    resumed = e2e.cli("run")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "adopted" in resumed.stdout
    assert starts.read_text().splitlines() == ["started"]  # the agent ran once in all
    assert e2e.git("show", "coordinator/integration:once.txt") == "1\n"


# The gate records its pid, then (in the run that is cut off) hangs as a slow test suite would.
GATE = (
    "import os, sys, time\n"
    "open(sys.argv[1], 'a').write(f'{os.getpid()}\\n')\n"
    "time.sleep(120 if os.environ.get('GATE_HANGS') else 0)\n"
)


def test_a_gate_cut_off_with_its_coordinator_is_killed_and_the_merge_redone(
    tmp_path: Path,
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    e2e = _make(root)
    gates = tmp_path / "gates"
    verify = json.dumps([sys.executable, "-c", GATE, str(gates)])
    e2e.config(FAKE_CONFIG + f"\n[merge]\nverify = {verify}\n")
    e2e.spec("v", "@write v.txt v\n@marker done", files=["v.txt"])
    e2e.spec("w", "@write w.txt w", files=["w.txt"], deps=["v"])

    crashed = _run_with_fault(e2e, "gate-running:1", {"GATE_HANGS": "1"})
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    wait_until("the gate's start", lambda: gates.exists() and bool(gates.read_text().split()))
    stale = int(gates.read_text().split()[0])
    assert alive(stale)  # the gate outlived its coordinator: only recovery can stop it
    assert e2e.status()["tasks"][0]["state"] == "verifying"

    resumed = e2e.cli("run")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert not alive(stale)
    assert "adopted" in resumed.stdout
    log = e2e.git("log", "--first-parent", "--format=%s", "coordinator/integration")
    assert [line.split(":")[0] for line in log.splitlines()[:2]] == ["Merge task w", "Merge task v"]
    assert len(gates.read_text().split()) == 3  # the cut-off gate, then one per merge


@pytest.mark.slow
@pytest.mark.parametrize(
    "point", ["queue-gates-judged", "queue-between-gate-and-update-ref", "queue-after-update-ref"]
)
def test_a_queue_round_cut_off_lands_every_task_once_and_only_after_a_gate(
    tmp_path: Path, point: str
) -> None:
    """Three independent tasks in one speculative round (gates side by side, one of them
    failing): killed at each point of the round, the next run lands the good ones exactly once,
    fails the bad one, and nothing lands without a gate run on its result."""
    root = tmp_path / "repo"
    root.mkdir()
    e2e = _make(root)
    gates = tmp_path / "gates"
    check = GATE + "sys.exit(1 if os.path.exists('bad.txt') else 0)\n"
    verify = json.dumps([sys.executable, "-c", check, str(gates)])
    e2e.config(FAKE_CONFIG + f"\n[merge]\nverify = {verify}\nparallel = 3\n")
    sig = tmp_path / "sig"
    sig.mkdir()
    names = ("p", "q", "r")
    for me in names:
        wait = "".join(f"@wait {sig}/{o} 60\n" for o in names if o != me)
        bad = "@write bad.txt x\n" if me == "q" else ""
        body = f"@touch {sig}/{me}\n{wait}{bad}@write {me}.txt {me}\n@marker done"
        e2e.spec(me, body, files=[f"{me}.txt"], extra="footprint: declared")
    crashed = _run_with_fault(e2e, f"{point}:1")
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    resumed = e2e.cli("run", "--instances", "3")
    log = e2e.git("log", "--first-parent", "--format=%s", "coordinator/integration")
    landed = collections.Counter(line.split(":")[0] for line in log.splitlines())
    assert landed["Merge task p"] == 1, log
    assert landed["Merge task r"] == 1, log
    assert landed["Merge task q"] == 0, log
    assert e2e.tasks()["q"]["state"] == "failed", resumed.stdout
    assert e2e.git("show", "coordinator/integration:p.txt") == "p\n"
    assert len(gates.read_text().split()) >= 2  # every landing followed a gate run
