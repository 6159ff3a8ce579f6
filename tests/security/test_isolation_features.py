"""Confinement where later features move the target or hand directories on: the merge queue
(gated rounds build on the target and land by compare-and-swap), the warm worktree pool (a
finished worktree goes to the next task) and ``[worktree] copy`` (files placed into the task's
directory), in each isolation mode."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from e2e_util import SCRIPTED, E2EProject

MODES = ("worktree", "clone", "sandbox")
SANDBOX_SKIP = "bwrap is not installed: install the Debian package bubblewrap to run these"


def _config(mode: str, *, top: str = "", tables: str = "") -> str:
    return (f'isolation = "{mode}"\ninstances = 1\ngrace = "1s"\n{top}\n{tables}\n'
            f'[agents.fake]\ncommand = ["{{python}}", "{SCRIPTED}", "{{prompt_file}}"]\n'
            'timeout = "120s"\n')  # fmt: skip


def _skip_without_bwrap(mode: str) -> None:
    if mode == "sandbox" and shutil.which("bwrap") is None:
        pytest.skip(SANDBOX_SKIP)


def _first_parent_merges(e2e: E2EProject, since: str) -> list[str]:
    chain = e2e.git("rev-list", "--first-parent", f"{since}..coordinator/integration").split()
    return [e2e.git("log", "-1", "--format=%B", c) for c in chain]


@pytest.mark.parametrize("mode", MODES)
def test_merge_queue_never_builds_on_a_moved_target(e2e: E2EProject, mode: str) -> None:
    """With a gate, rounds build on the target and land it by compare-and-swap: a target an
    agent moved is put back (worktree mode: the agent ran alone, so it fails ``tampered``) and
    the queue lands every other task on the coordinator's own value."""
    _skip_without_bwrap(mode)
    e2e.config(_config(mode, tables='[merge]\nverify = ["true"]\nparallel = 2\n'))
    e2e.spec("victim", "@write victim.txt v", files=["victim.txt"], extra="priority: 10")
    e2e.spec("attacker", "@write attack.txt a\n@commit attack\n"
             "@try @git update-ref refs/heads/coordinator/integration HEAD",
             files=["attack.txt"], deps=("victim",))  # fmt: skip
    e2e.spec("bystander", "@write bystander.txt b", files=["bystander.txt"], deps=("victim",),
             extra="priority: -10")  # fmt: skip
    e2e.git("add", "-A")
    e2e.git("commit", "-q", "-m", "specs")
    start = e2e.git("rev-parse", "HEAD").strip()

    result = e2e.cli("run", timeout=300)
    out = result.stdout + result.stderr
    tasks = e2e.tasks()
    assert tasks["victim"]["state"] == "merged" and tasks["bystander"]["state"] == "merged", out
    for message in _first_parent_merges(e2e, start):
        assert "Coordinator-Task:" in message, out  # never the agent's own commit
    quarantined = e2e.git("for-each-ref", "refs/coordinator/quarantine/").strip()
    if mode == "worktree":
        assert (tasks["attacker"]["state"], tasks["attacker"]["reason"]) == ("failed", "tampered")
        assert quarantined, out  # the value the agent wrote is kept
    else:  # its git reached only its own clone
        assert tasks["attacker"]["state"] == "merged", out
        assert not quarantined, out
    assert {t["isolation"] for t in tasks.values()} == {mode}


@pytest.mark.parametrize("mode", MODES)
def test_pool_keeps_worktrees_only(e2e: E2EProject, mode: str) -> None:
    """A worktree goes to the pool without its agent's own git config (``config.worktree`` in
    its admin directory); a task clone never goes to the pool (in a clone that file is the
    clone's own config, and writing it fails the task: ``test_attacks``)."""
    _skip_without_bwrap(mode)
    e2e.config(_config(mode, top="worktree_pool = 2"))
    plant = "\n@gitdir-touch config.worktree" if mode == "worktree" else ""
    e2e.spec("a", "@write a.txt a" + plant, files=["a.txt"])
    e2e.spec("b", "@write b.txt b", files=["b.txt"], deps=("a",))
    e2e.git("add", "-A")
    e2e.git("commit", "-q", "-m", "specs")

    result = e2e.cli("run", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {t["state"] for t in e2e.tasks().values()} == {"merged"}
    pooled = sorted(p.name for p in (e2e.root / "worktrees").glob(".pool-*"))
    if mode == "worktree":
        assert pooled, "the finished worktrees went to the pool"
    else:
        assert pooled == []
    admin = e2e.root / ".git" / "worktrees"
    left = list(admin.glob("*/config.worktree")) if admin.is_dir() else []
    assert left == [], left


@pytest.mark.parametrize("mode", MODES)
def test_copied_files_never_land(e2e: E2EProject, mode: str) -> None:
    """``[worktree] copy`` places the user's untracked ``.env`` into the task's directory, a
    worktree or a clone: the agent can read it, and it is never part of the task's commit."""
    _skip_without_bwrap(mode)
    e2e.config(_config(mode, tables='[worktree]\ncopy = [".env"]\n'))
    e2e.spec("a", "@write a.txt a", files=["a.txt"])
    e2e.git("add", "-A")
    e2e.git("commit", "-q", "-m", "specs")
    Path(e2e.root / ".env").write_text("SECRET=1\n")

    result = e2e.cli("run", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    landed = e2e.git("ls-tree", "-r", "--name-only", "coordinator/integration").split()
    assert "a.txt" in landed and ".env" not in landed, landed
