"""Warm worktrees through the real CLI: reused along a chain of tasks, each agent still working
in ``worktrees/<id>``, ignored build output kept only when asked, and ``clean`` removing them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_util import FAKE_CONFIG, E2EProject

CHAIN = ("a", "b", "c", "d")


def _chain(e2e: E2EProject, envs: Path, config: str) -> None:
    e2e.write(".gitignore", "build/\n")
    e2e.git("add", "-A")
    e2e.git("commit", "-q", "-m", "ignore build output")
    e2e.config(config + FAKE_CONFIG)
    for before, task in zip((None, *CHAIN), CHAIN, strict=False):
        body = (
            f"@env {envs / task}.json\n@write out/{task}.txt {task}\n"
            f"@write build/cache-{task} built\n@marker done"
        )
        e2e.spec(task, body, files=[f"out/{task}.txt"], deps=[before] if before else [])


def _admin_dirs(e2e: E2EProject) -> list[str]:
    admin = e2e.root / ".git" / "worktrees"
    return sorted(p.name for p in admin.iterdir()) if admin.exists() else []


@pytest.mark.slow
@pytest.mark.parametrize("reuse_ignored", [False, True])
def test_a_chain_of_tasks_runs_in_one_reused_worktree(
    e2e: E2EProject, tmp_path: Path, reuse_ignored: bool
) -> None:
    envs = tmp_path / "envs"
    envs.mkdir()
    _chain(e2e, envs, f"reuse_ignored = {str(reuse_ignored).lower()}\n")
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    worktrees = e2e.root.resolve() / "worktrees"
    tasks = e2e.tasks()
    for task in CHAIN:
        seen = json.loads((envs / f"{task}.json").read_text())
        assert Path(seen["env"]["COORDINATOR_WORKTREE"]) == worktrees / task == Path(seen["cwd"])
        assert Path(tasks[task]["worktree"]) == worktrees / task
        assert e2e.git("show", f"coordinator/integration:out/{task}.txt") == f"{task}\n"
    # One `worktree add` and three reuses, or two adds when a start did not wait for the
    # previous task's worktree to come back: that wait is capped by design (half a fresh add),
    # so on a loaded machine the pool job can lose the race. Reuse must still happen.
    adds = len(_admin_dirs(e2e))
    assert 1 <= adds <= 2
    pools = sorted(worktrees.iterdir())
    assert [p.name for p in pools] == [f".pool-{n}" for n in range(1, adds + 1)]
    if not reuse_ignored:  # deleted as each worktree went back to the pool
        assert not any((p / "build").exists() for p in pools)
    else:
        [pooled] = [p for p in pools if (p / "build" / "cache-d").exists()]  # where d ran
        kept = sorted(p.name for p in (pooled / "build").iterdir())
        assert kept == [f"cache-{t}" for t in CHAIN] if adds == 1 else kept[-1] == "cache-d"
    for pool in pools:
        assert e2e.git("-C", str(pool), "status", "--porcelain") == ""

    cleaned = e2e.cli("clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert all(f"removed worktree {pool}" in cleaned.stdout for pool in pools)
    assert list(worktrees.iterdir()) == [] and _admin_dirs(e2e) == []
    record = json.loads((e2e.root / ".git" / "coordinator" / "worktree-pool.json").read_text())
    assert record["worktrees"] == []


@pytest.mark.slow
def test_no_pool_means_a_fresh_worktree_per_task(e2e: E2EProject, tmp_path: Path) -> None:
    envs = tmp_path / "envs"
    envs.mkdir()
    _chain(e2e, envs, "worktree_pool = 0\n")
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _admin_dirs(e2e) == list(CHAIN)  # each task's worktree stays where it ran


@pytest.mark.slow
def test_merged_worktrees_the_pool_has_no_room_for_are_removed(e2e: E2EProject) -> None:
    """A long run must not leave one worktree per task: git walks every registered worktree
    each time it moves a branch, so the run's own cost per task would grow with its length."""
    e2e.config("worktree_pool = 1\n" + FAKE_CONFIG)
    ids = [f"t{n}" for n in range(5)]
    for task in ids:
        e2e.spec(task, f"@write out/{task}.txt {task}\n@marker done", files=[f"out/{task}.txt"])
    e2e.spec("bad", "@write out/bad.txt bad\n@exit 3", files=["out/bad.txt"])
    result = e2e.cli("run")
    assert result.returncode == 1, result.stdout + result.stderr  # "bad" did not merge
    tasks = e2e.tasks()
    assert all(tasks[t]["state"] == "merged" for t in ids)
    left = sorted(p.name for p in (e2e.root / "worktrees").iterdir())
    pooled = [name for name in left if name.startswith(".pool-")]
    assert len(pooled) == 1, left
    assert "bad" in left  # a failed task's worktree stays where it ran, to be looked at
    assert set(left) - {*pooled, "bad"} == set(), left  # no merged task's worktree is left
    for task in ids:  # the work is on the target and each branch is kept for review
        assert e2e.git("show", f"coordinator/integration:out/{task}.txt") == f"{task}\n"
        assert e2e.git("rev-parse", "--verify", "-q", f"coordinator/task/{task}")
