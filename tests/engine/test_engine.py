"""The engine driven directly, on real repositories with real agents, stores and gates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psutil
from e2e_util import wait_until
from gitutil import git
from harness import AGENTS, TARGET, EngineRun, config, gate_argv, spec

from coordinator.commands.status import read_status
from coordinator.io.runfiles import store_path
from coordinator.io.store import Store


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split() if path.exists() else []


def merge_order(repo: Path) -> list[str]:
    log = git(repo, "log", "--first-parent", "--reverse", "--format=%s", TARGET)
    return [line.split(":")[0].removeprefix("Merge task ") for line in log.splitlines()[1:]]


def _queue(repo: Path) -> dict[str, Any]:
    queue: dict[str, Any] = read_status(repo)["queue"]
    return queue


def test_markers_are_seen_and_agents_start_while_a_gate_runs(repo: Path, tmp_path: Path) -> None:
    """One slot. a's merge gate hangs until released; meanwhile b (which waits for that gate
    to start) finishes, its marker is read and its work waits for the lane as ``merging``,
    and c starts and finishes."""
    started, release = tmp_path / "gate-started", tmp_path / "release"
    gate = json.dumps(gate_argv(started, release))
    (repo / "coordinator.toml").write_text(config(extra=f"\n[merge]\nverify = {gate}\n"))
    spec(repo, "a", "@write a.txt a\n@marker done")
    spec(repo, "b", f"@wait {started} 30\n@write b.txt b\n@marker done")
    spec(repo, "c", "@write c.txt c\n@marker done")
    run = EngineRun(repo).start()
    seen = run.watcher
    try:
        seen.wait_for("a's gate to start", lambda: seen.seen("verifying", "a"))
        seen.wait_for("b's marker to be read", lambda: seen.seen("finished", "b"))
        seen.wait_for("c to start", lambda: seen.seen("started", "c"))
        seen.wait_for("c's marker to be read", lambda: seen.seen("finished", "c"))
        seen.wait_for("b to wait for the lane", lambda: seen.state("b") == "merging")
        # a's gate still runs: it started once, was not released, and nothing merged yet
        assert len(lines(started)) == 1 and alive(int(lines(started)[0]))
        assert not seen.seen("merged", "a")
        assert run.stored_state("a") == "verifying"
        assert run.stored_state("b") == "merging"
        # status --json's queue: a gated on the target, b (then c) waiting behind it
        seen.wait_for("the queue in status", lambda: _queue(repo)["waiting"][:1] == ["b"])
        queue = _queue(repo)
        assert queue["round"] == [{"tasks": ["a"], "speculative": False, "gate": "running"}]
        assert (queue["phase"], queue["gate"], queue["bisecting"]) == ("gating", True, [])
    finally:
        release.touch()
    summary = run.join()
    assert summary.exit_code == 0, summary
    assert merge_order(repo) == ["a", "b", "c"]
    assert len(lines(started)) == 3  # one gate per merge, one at a time
    assert seen.index("verifying", "a") < seen.index("finished", "b") < seen.index("merged", "a")
    assert seen.index("started", "c") < seen.index("merged", "a")


def test_a_done_marker_stops_the_agent_at_once_not_after_grace(repo: Path, tmp_path: Path) -> None:
    """grace is 60 s; an agent that stays alive after its marker is stopped right away."""
    pids = tmp_path / "pids"
    (repo / "coordinator.toml").write_text(config(grace="60s"))
    spec(repo, "stays", f"@pid {pids}\n@write stays.txt done\n@marker done all good\n@hang")
    run = EngineRun(repo).start()
    summary = run.join(timeout=30)  # half the grace: waiting for it would fail here
    assert summary.exit_code == 0
    agent = int(lines(pids)[0])
    assert not alive(agent)
    killed = next(e for e in run.watcher.events if e.kind == "killed")
    assert agent in killed.data["pids"]
    assert git(repo, "show", f"{TARGET}:stays.txt") == "done\n"
    # The phase spans the report draws are all in the store by the end (written in batches).
    with Store.open_readonly(store_path(repo / ".git")) as reader:
        spans = {e.data["phase"] for e in reader.events(run.run_id) if e.kind == "phase"}
    assert {"worktree", "start", "stop", "commit", "merge", "pool"} <= spans


def test_an_agent_deaf_to_sigterm_is_killed_grace_after_its_marker(
    repo: Path, tmp_path: Path
) -> None:
    ready = tmp_path / "ready.json"
    deaf = json.dumps(["{python}", str(AGENTS / "mark_then_hang.py"), "--ignore-term"])
    (repo / "coordinator.toml").write_text(
        config(grace="0.3s") + f"\n[agents.deaf]\ncommand = {deaf}\n"
    )
    path = repo / "specs" / "deaf.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\nid: deaf\nagent: deaf\nfiles: [deaf.txt]\n---\nFAKE: --ready {ready}\n")
    summary = EngineRun(repo).start().join()
    assert summary.exit_code == 0  # done by its marker; it changed nothing
    agent = json.loads(ready.read_text())["pid"]
    assert not alive(agent)


def test_a_conflict_is_kept_and_retried_from_the_new_head(repo: Path, tmp_path: Path) -> None:
    """p and q run side by side (each waits for the other) and both write same.txt."""
    sig = tmp_path / "sig"
    sig.mkdir()
    (repo / "coordinator.toml").write_text(config(instances=2))
    for me, other in (("p", "q"), ("q", "p")):
        body = f"@touch {sig}/{me}\n@wait {sig}/{other} 30\n@write same.txt {me}\n@marker done"
        spec(repo, me, body)
    run = EngineRun(repo, instances=2).start()
    summary = run.join()
    assert summary.exit_code == 0, summary
    retried = next(e for e in run.watcher.events if e.kind == "retry")
    loser = retried.task_id
    assert loser is not None
    kept = f"coordinator/conflict/{run.run_id}/{loser}"
    assert git(repo, "show", f"{kept}:same.txt") == f"{loser}\n"  # the first try is kept
    assert git(repo, "show", f"{TARGET}:same.txt") == f"{loser}\n"  # the retry landed last
    assert merge_order(repo)[-1] == loser
    task = run.engine.book[loser]
    assert (task.state.value, task.attempt) == ("merged", 2)


def test_a_first_stop_cancels_agents_but_lets_finished_work_land(
    repo: Path, tmp_path: Path
) -> None:
    """While a's gate runs, a stop cancels b (running) and its dependent; a still lands."""
    started, release, pids = tmp_path / "gate-started", tmp_path / "release", tmp_path / "pids"
    gate = json.dumps(gate_argv(started, release))
    gated = config(instances=2, extra=f"\n[merge]\nverify = {gate}\n")
    (repo / "coordinator.toml").write_text(gated)
    spec(repo, "a", "@write a.txt a\n@marker done")
    spec(repo, "b", f"@pid {pids}\n@write b.txt half\n@hang")
    spec(repo, "later", "@write later.txt x", deps=["b"])
    run = EngineRun(repo, instances=2).start()
    seen = run.watcher
    try:
        seen.wait_for("a's gate", lambda: seen.seen("verifying", "a"))
        seen.wait_for("b's start", lambda: seen.seen("started", "b"))
        written = repo / "worktrees" / "b" / "b.txt"  # the agent's work so far, to be kept
        wait_until("b's write", written.exists)  # (its start is seen before it runs a line)
        run.engine.request_stop()
        seen.wait_for("b to end", lambda: seen.seen("cancelled", "b"))
        assert not seen.seen("merged", "a")  # the gate is still running
    finally:
        release.touch()
    summary = run.join()
    states = {t.id: (t.state.value, t.reason) for t in run.engine.book}
    assert states == {
        "a": ("merged", ""),
        "b": ("cancelled", "interrupted"),
        "later": ("cancelled", "interrupted before it started"),
    }
    assert summary.exit_code == 1
    assert git(repo, "show", f"coordinator/cancelled/{run.run_id}/b:b.txt") == "half\n"
    assert not alive(int(lines(pids)[0]))
