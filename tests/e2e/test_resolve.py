"""``on_conflict = "resolve"`` end to end: a resolver agent finishes a conflicted merge."""

from __future__ import annotations

import pytest
from e2e_util import FAKE_CONFIG, E2EProject, conflicting_pair


def _setup(e2e: E2EProject, resolver_command: str) -> None:
    """x and y rewrite the same line of f.txt; y lies about its footprint so it runs beside x,
    and waits for x's merge on its first attempt, so its merge conflicts."""
    e2e.config(
        'on_conflict = "resolve"\n' + FAKE_CONFIG
        + f"\n[agents.fixer]\ncommand = {resolver_command}\n"
        + '\n[merge]\nresolver = "fixer"\n'
    )  # fmt: skip
    conflicting_pair(e2e)


@pytest.mark.slow
def test_the_demo_resolver_lands_the_conflicted_merge_with_its_trailer(e2e: E2EProject) -> None:
    _setup(e2e, '["{python}", "-m", "coordinator.demo_agent", "{spec}"]')
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    tasks = e2e.tasks()
    assert tasks["x"]["state"] == "merged"
    assert tasks["y"]["state"] == "merged"
    assert tasks["y"]["attempt"] == 1  # resolved, not rerun
    commit = tasks["y"]["merge_commit"]
    parents = e2e.git("log", "-1", "--format=%P", commit).split()
    assert parents[0] == tasks["x"]["merge_commit"]
    assert parents[1] == e2e.git("rev-parse", f"{commit}^2").strip()
    body = e2e.git("log", "-1", "--format=%B", commit)
    assert "Coordinator-Resolved-By: fixer" in body
    assert "Coordinator-Task: y" in body
    assert e2e.git("log", "-1", "--format=%H", "coordinator/integration").strip() == commit
    text = e2e.git("show", "coordinator/integration:f.txt")
    assert text == "top\nfrom x\nfrom y\nbottom\n"  # union: both sides, no markers
    # the resolving worktree and branch are gone
    assert "coordinator/resolving" not in e2e.git("branch", "--list", "coordinator/*")
    assert ".resolve-" not in e2e.git("worktree", "list")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "why"),
    [
        ('["{python}", "-c", "pass"]', "conflict markers left in f.txt"),
        ('["{python}", "-c", "raise SystemExit(1)"]', "exit code 1"),
    ],
    ids=["leaves-markers", "fails"],
)
def test_a_failed_resolver_falls_back_to_a_rerun_from_the_new_head(
    e2e: E2EProject, command: str, why: str
) -> None:
    _setup(e2e, command)
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    tasks = e2e.tasks()
    assert tasks["y"]["state"] == "merged"
    assert tasks["y"]["attempt"] == 2  # the resolver failed: rerun from the new head
    assert tasks["y"]["base"] == tasks["x"]["merge_commit"]
    body = e2e.git("log", "-1", "--format=%B", tasks["y"]["merge_commit"])
    assert "Coordinator-Resolved-By" not in body
    assert e2e.git("show", "coordinator/integration:f.txt") == "top\nfrom y\nbottom\n"
    assert why in result.stdout + result.stderr + e2e.cli("log").stdout


# A gate that fails while f.txt holds a conflict marker (TOML literal strings: no escapes).
GATE = (
    """["python3", "-c", 'import pathlib, sys; """
    """sys.exit("<<<<" in pathlib.Path("f.txt").read_text())']"""
)
DEMO = '["{python}", "-m", "coordinator.demo_agent", "{spec}"]'
SPILLS = (
    """["{python}", "-c", 'p = __import__("pathlib").Path; """
    """p("f.txt").write_text("top\\nboth\\nbottom\\n"); p("extra.txt").write_text("x")']"""
)


@pytest.mark.slow
def test_a_resolution_lands_through_the_merge_queue_once_its_gate_passes(e2e: E2EProject) -> None:
    _setup(e2e, DEMO)
    config = (e2e.root / "coordinator.toml").read_text(encoding="utf-8")
    e2e.config(config.replace("[merge]\n", f"[merge]\nverify = {GATE}\n"))
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    task = e2e.tasks()["y"]
    assert task["attempt"] == 1
    assert "Coordinator-Resolved-By: fixer" in e2e.git(
        "log", "-1", "--format=%B", task["merge_commit"]
    )
    logs = list((e2e.root / ".git").rglob("y.resolve.verify.log"))
    assert len(logs) == 1  # the gate checked the resolution before it landed


@pytest.mark.slow
def test_a_resolver_changing_undeclared_files_falls_back(e2e: E2EProject) -> None:
    _setup(e2e, SPILLS)
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "changed files beyond the conflicts, undeclared: extra.txt" in result.stdout
    task = e2e.tasks()["y"]
    assert task["attempt"] == 2
    assert "extra.txt" not in e2e.git("ls-tree", "--name-only", "coordinator/integration")
