"""An agent type's program is checked before anything starts; a launch failure says so and is
not the task's failure (issue 11, item 2)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from e2e_util import FAKE_CONFIG, E2EProject

CLAUDE_CONFIG = FAKE_CONFIG + '\n[agents.claude]\nprofile = "claude-code"\n'


def _no_claude_path(tmp_path: Path) -> dict[str, str]:
    """A PATH without any ``claude`` (the tests run the CLI with an absolute interpreter)."""
    empty = tmp_path / "bin"
    empty.mkdir()
    git_dir = os.path.dirname(shutil.which("git") or "/usr/bin/git")
    return {"PATH": f"{empty}:{git_dir}"}


def test_validate_and_run_name_a_missing_program_before_anything_starts(
    e2e: E2EProject, tmp_path: Path
) -> None:
    e2e.config(CLAUDE_CONFIG)
    e2e.spec("ask", "Do something.", agent="claude", files=["a.txt"])
    e2e.spec("local", "@write b.txt b", files=["b.txt"])
    env = _no_claude_path(tmp_path)
    for command in ("validate", "run"):
        result = e2e.cli(command, env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert "agents.claude" in lines[0] and "'claude'" in lines[0]
        assert "not found on PATH" in lines[0] and "install it" in lines[0]
    assert not (e2e.root / "worktrees").exists()
    assert e2e.git("branch", "--list", "coordinator/*").strip() == ""
    # An agent type no selected task uses is not in the way.
    only = e2e.cli("run", "--only", "local", env=env)
    assert only.returncode == 0, only.stdout + only.stderr


def test_an_uncommitted_relative_program_is_refused(e2e: E2EProject) -> None:
    e2e.config(FAKE_CONFIG + '\n[agents.tool]\ncommand = ["tools/agent.sh", "{prompt_file}"]\n')
    e2e.spec("t", "x", agent="tool", files=["t.txt"])
    e2e.write("tools/agent.sh", "#!/bin/sh\nexit 0\n")
    result = e2e.cli("validate")
    assert result.returncode == 2
    assert "'tools/agent.sh': not a committed file (it is in your checkout" in result.stderr
    assert "commit tools/agent.sh" in result.stderr


def test_a_launch_failure_says_why_and_the_daemon_tries_again(
    e2e: E2EProject, tmp_path: Path
) -> None:
    program = tmp_path / "agent"
    program.write_text("this is not a program\n")  # executable, but exec refuses it
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    e2e.config(FAKE_CONFIG + f'\n[agents.odd]\ncommand = ["{program}", "{{prompt_file}}"]\n')
    e2e.spec("t", "x", agent="odd", files=["t.txt"])
    assert e2e.cli("validate").returncode == 0
    first = e2e.cli("daemon", "--once")
    assert first.returncode == 1, first.stdout + first.stderr
    reason = e2e.tasks()["t"]["reason"]
    assert reason == f"could not start {program}: Exec format error", reason
    assert f"could not start {program}: Exec format error" in first.stdout
    program.write_text("#!/bin/sh\necho done > t.txt\n")
    second = e2e.cli("daemon", "--once")
    assert second.returncode == 0, second.stdout + second.stderr
    assert e2e.tasks()["t"]["state"] == "merged"
    assert e2e.git("show", "coordinator/integration:t.txt") == "done\n"


def test_a_missing_setup_program_is_named_before_anything_starts(e2e: E2EProject) -> None:
    # it would fail every task with reason setup, after a worktree each
    e2e.config(FAKE_CONFIG + '\n[worktree]\nsetup = ["no-such-installer-xyz", "ci"]\n')
    e2e.spec("t", "@write t.txt t", files=["t.txt"])
    for command in ("validate", "run"):
        result = e2e.cli(command)
        assert result.returncode == 2, result.stdout + result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert "worktree.setup" in line and "'no-such-installer-xyz': not found on PATH" in line
        assert "first element of setup" in line
    assert not (e2e.root / "worktrees").exists()
    e2e.config(FAKE_CONFIG + '\n[worktree]\nsetup = ["{python}", "-c", "pass"]\n')
    assert e2e.cli("run").returncode == 0
