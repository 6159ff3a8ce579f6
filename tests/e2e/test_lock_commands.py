"""Commands that move or remove what a run works on hold the repository lock (issue 11, items
1 and 11): started during a run they exit 75 and the run ends as it would have."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_util import E2EProject, wait_until

from coordinator.io.store import Store


def _two_waiting_tasks(e2e: E2EProject, tmp_path: Path) -> tuple[Path, Path, Path]:
    """``edited`` has changed a file when it waits; ``fresh`` has changed nothing yet (its
    branch is still at the target's head, so it would look merged to a careless clean)."""
    started_a, started_b, release = tmp_path / "a", tmp_path / "b", tmp_path / "release"
    e2e.spec(
        "edited",
        f"@write edited.txt early\n@touch {started_a}\n@wait {release} 60\n@append edited.txt late",
        files=["edited.txt"],
    )
    e2e.spec("fresh", f"@touch {started_b}\n@wait {release} 60\n@write fresh.txt x",
             files=["fresh.txt"])  # fmt: skip
    return started_a, started_b, release


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [("clean",), ("clean", "--all", "--force"), ("land", "--onto", "main"), ("revert", "old")],
)
def test_a_command_started_during_a_run_exits_75_and_the_run_ends_as_it_would_have(
    e2e: E2EProject, tmp_path: Path, command: tuple[str, ...]
) -> None:
    e2e.spec("old", "@write old.txt x", files=["old.txt"])
    assert e2e.cli("run", "--only", "old").returncode == 0
    started_a, started_b, release = _two_waiting_tasks(e2e, tmp_path)
    worktrees = e2e.root / "worktrees"
    run = e2e.popen("run")
    try:
        wait_until("both agents to start", lambda: started_a.exists() and started_b.exists())
        before = sorted(p.name for p in worktrees.iterdir())
        other = e2e.cli(*command)
        assert other.returncode == 75, other.stdout + other.stderr
        lines = other.stderr.strip().splitlines()
        assert len(lines) == 1 and f"pid {run.pid}" in lines[0] and "(run)" in lines[0], lines
        assert other.stdout == ""
        assert sorted(p.name for p in worktrees.iterdir()) == before  # nothing moved aside
    finally:
        release.touch()
        out, err = run.communicate(timeout=120)
    assert run.returncode == 0, out + err
    tasks = e2e.tasks()
    assert tasks["edited"]["state"] == "merged" and tasks["fresh"]["state"] == "merged"
    target = "coordinator/integration"
    assert e2e.git("show", f"{target}:edited.txt") == "early\nlate\n"
    assert e2e.git("show", f"{target}:fresh.txt") == "x\n"
    assert "moved by something other" not in out and "deleted its worktree" not in out


def test_clean_leaves_the_tasks_of_a_run_that_did_not_finish(e2e: E2EProject) -> None:
    """A run the store calls running while nobody holds the lock was cut off: its agents may
    still be alive, so its task branch and worktree wait for the next run's recovery."""
    e2e.spec("t", "@write t.txt x", files=["t.txt"])
    head = e2e.git("rev-parse", "HEAD").strip()
    e2e.git("branch", "coordinator/integration", head)
    e2e.git("worktree", "add", "-q", "-b", "coordinator/task/t", "worktrees/t", head)
    (e2e.root / "worktrees" / "t" / "t.txt").write_text("half done\n")
    store = e2e.root / ".git" / "coordinator" / "state.db"
    _cut_off_run(store, "t", head, str(e2e.root / "worktrees" / "t"))
    cleaned = e2e.cli("clean", "--all", "--force")
    assert cleaned.returncode == 0, cleaned.stderr
    assert "kept coordinator/task/t and its worktree: run r1 did not finish" in cleaned.stdout
    assert (e2e.root / "worktrees" / "t" / "t.txt").read_text() == "half done\n"
    assert e2e.git("branch", "--list", "coordinator/task/t").strip()


def _cut_off_run(store: Path, task_id: str, base: str, worktree: str) -> None:
    with Store(store) as db:
        db.create_run("r1", target="coordinator/integration", base=base, instances=1,
                      started_at=1.0)  # fmt: skip
        db.upsert_task("r1", task_id, agent="fake", state="running", attempt=1, base=base,
                       branch=f"coordinator/task/{task_id}", worktree=worktree)  # fmt: skip


@pytest.mark.slow
def test_a_worktree_moved_aside_is_not_blamed_on_the_agent(e2e: E2EProject, tmp_path: Path) -> None:
    """What `clean` used to do to a running task: its worktree set aside as .stale-<id>-1.
    The run must not say the agent deleted it, nor merge the empty branch as its work."""
    started, release = tmp_path / "started", tmp_path / "release"
    e2e.spec("t", f"@write t.txt x\n@touch {started}\n@wait {release} 60", files=["t.txt"])
    run = e2e.popen("run")
    try:
        wait_until("the agent to start", started.exists)
        aside = e2e.root / "worktrees" / ".stale-t-1"
        e2e.git("worktree", "move", "worktrees/t", str(aside))
        e2e.git("-C", str(aside), "update-ref", "--no-deref", "HEAD",
                e2e.git("-C", str(aside), "rev-parse", "HEAD").strip())  # fmt: skip
    finally:
        release.touch()
        out, err = run.communicate(timeout=120)
    assert run.returncode == 1, out + err
    assert "deleted its worktree" not in out + err
    task = e2e.tasks()["t"]
    assert task["state"] == "failed"
    assert "moved aside to" in task["reason"] and ".stale-t-1" in task["reason"]
    assert "not on coordinator/task/t" in task["reason"]
    assert (aside / "t.txt").read_text() == "x\n"
