"""``[worktree]`` end to end: a setup command, files copied and linked into each new worktree."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from e2e_util import FAKE_CONFIG, E2EProject

# The setup "installs" a tool into vendor/ (ignored), the way `npm ci` fills node_modules: a
# module that only exists once setup ran, and that knows the task and port it was set up for.
SETUP = (
    "import os, pathlib, sys\n"
    "task = os.environ['COORDINATOR_TASK_ID']\n"
    "print('installing for', task, 'port', os.environ['COORDINATOR_PORT'], flush=True)\n"
    "if task == 'bad':\n"
    "    print('npm ERR! network timeout'); sys.exit(3)\n"
    "pathlib.Path('vendor').mkdir(exist_ok=True)\n"
    "pathlib.Path('vendor/tool.py').write_text(\n"
    "    f'def greet():\\n    return \"hello from setup of {task} at {sys.argv[1]}\"\\n')\n"
)
# The agent uses the installed tool, the copied .env and the linked shared directory.
AGENT = (
    "import os, pathlib, sys\n"
    "sys.path.insert(0, 'vendor')\n"
    "import tool\n"
    "task = os.environ['COORDINATOR_TASK_ID']\n"
    "shared = pathlib.Path('shared')\n"
    "pathlib.Path(f'{task}.txt').write_text(\n"
    "    tool.greet() + '\\n' + pathlib.Path('.env').read_text()\n"
    "    + f'link={shared.is_symlink()} data=' + (shared / 'data.txt').read_text())\n"
    "pathlib.Path('.env').write_text('SECRET=changed by the agent\\n')\n"
)


def _config(e2e: E2EProject) -> None:
    scripts = e2e.root.parent / "scripts"
    scripts.mkdir(exist_ok=True)
    (scripts / "setup.py").write_text(SETUP)
    (scripts / "agent.py").write_text(AGENT)
    agent = json.dumps(["{python}", str(scripts / "agent.py")])
    setup = json.dumps(["{python}", str(scripts / "setup.py"), "{worktree}"])
    e2e.config(
        FAKE_CONFIG
        + f"\n[agents.tooled]\ncommand = {agent}\n"
        + f"\n[worktree]\nsetup = {setup}\n"
        + 'setup_timeout = "30s"\ncopy = [".env*"]\nlink = ["shared"]\n'
    )


@pytest.mark.parametrize("ignored", ["", ".env\nshared\n"], ids=["not-ignored", "ignored"])
def test_setup_installs_what_the_agent_uses_and_copies_and_links_stay_out_of_commits(
    e2e: E2EProject, tmp_path: Path, ignored: str
) -> None:
    # the usual case has .env and node_modules-like directories ignored: the commit of the
    # agent's work must not trip over git refusing to name an ignored path
    e2e.write(".gitignore", "vendor/\n" + ignored)
    e2e.git("add", ".gitignore")
    e2e.git("commit", "-q", "-m", "ignore vendor")
    _config(e2e)
    e2e.write(".env", "SECRET=from your checkout\n")  # untracked (ignored or not)
    e2e.write("shared/data.txt", "shared data\n")
    outside = tmp_path / "outside-secret"
    outside.write_text("never copy me\n")
    (e2e.root / ".env.outside").symlink_to(outside)  # leads out of the repository
    e2e.spec("a", "use the tool", agent="tooled", files=["a.txt"])
    before = e2e.git("status", "--porcelain", "--untracked-files=all")

    result = e2e.cli("run", "--json")

    assert result.returncode == 0, result.stdout + result.stderr
    merged = e2e.git("show", "coordinator/integration:a.txt")
    worktree = e2e.root / "worktrees" / "a"
    assert merged == (
        f"hello from setup of a at {worktree}\nSECRET=from your checkout\n"
        "link=True data=shared data\n"
    )
    files = e2e.git("ls-tree", "-r", "--name-only", "coordinator/integration").split()
    assert ".env" not in files and "shared" not in files and "vendor/tool.py" not in files
    assert (e2e.root / ".env").read_text() == "SECRET=from your checkout\n"  # a copy changed
    assert not (worktree / ".env.outside").exists()
    events = [json.loads(line) for line in result.stdout.splitlines()]
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert any(".env.outside not copied: it leads out of the repository" in w for w in warnings)
    setup = [e for e in events if e["event"] == "setup"]
    assert len(setup) == 1 and setup[0]["task"] == "a"
    log = Path(e2e.tasks()["a"]["log"]).read_text()
    assert "[coordinator] ---- setup:" in log and "installing for a port 20000" in log
    assert log.index("---- setup exited 0") < log.index("[coordinator] ---- agent:")
    assert e2e.git("status", "--porcelain", "--untracked-files=all") == before

    # clean takes back what was placed as it was placed (the link); the .env the agent changed
    # is not the coordinator's to delete, so that worktree is set aside, not removed
    cleaned = e2e.cli("clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert not worktree.exists()
    (aside,) = (e2e.root / "worktrees").glob(".stale-*")  # (never pooled: a copy changed)
    assert (aside / ".env").read_text() == "SECRET=changed by the agent\n"
    assert not os.path.lexists(aside / "shared")
    assert (e2e.root / "shared" / "data.txt").read_text() == "shared data\n"


def test_a_failed_setup_fails_the_task_with_reason_setup_and_keeps_its_worktree(
    e2e: E2EProject,
) -> None:
    _config(e2e)
    e2e.write("shared/data.txt", "x\n")
    e2e.spec("bad", "never runs", agent="tooled", files=["bad.txt"])
    e2e.spec("after", "@write after.txt x", deps=["bad"], files=["after.txt"])

    result = e2e.cli("run")

    assert result.returncode == 1, result.stdout + result.stderr
    tasks = e2e.tasks()
    assert tasks["bad"]["state"] == "failed" and tasks["bad"]["reason"] == "setup"
    assert tasks["after"]["state"] == "skipped"
    worktree = Path(tasks["bad"]["worktree"])
    assert worktree.is_dir() and not (worktree / "bad.txt").exists()  # the agent never ran
    assert "npm ERR! network timeout" in Path(tasks["bad"]["log"]).read_text()
    assert "setup" in result.stdout and "exited 3" in result.stdout
    assert [a["outcome"] for a in tasks["bad"]["attempts"]] == ["failed"]
    assert os.path.isdir(worktree / ".git") or (worktree / ".git").is_file()


def test_setup_runs_in_a_new_worktree_only_unless_setup_always(
    e2e: E2EProject, tmp_path: Path
) -> None:
    """With warm worktrees (on by default) the second task reuses the first one's worktree:
    what setup installed is kept (``reuse_ignored``), so setup does not run again."""
    ran = tmp_path / "setup-ran.txt"
    setup = ["{python}", "-c", "import os, sys\nopen(sys.argv[1], 'a').write("
             "os.environ['COORDINATOR_TASK_ID'] + '\\n')", str(ran)]  # fmt: skip
    table = f"\n[worktree]\nsetup = {json.dumps(setup)}\n"
    e2e.config("instances = 1\nreuse_ignored = true\n" + FAKE_CONFIG.replace("instances = 3", "")
               + table)  # fmt: skip
    e2e.spec("a", "@write a.txt a", files=["a.txt"])
    e2e.spec("b", "@write b.txt b", deps=["a"], files=["b.txt"])
    assert e2e.cli("run").returncode == 0
    assert ran.read_text().split() == ["a"]  # b got a's warm worktree: no second setup

    e2e.config("instances = 1\nreuse_ignored = true\n" + FAKE_CONFIG.replace("instances = 3", "")
               + table + "setup_always = true\n")  # fmt: skip
    e2e.spec("c", "@write c.txt c", files=["c.txt"])
    e2e.spec("d", "@write d.txt d", deps=["c"], files=["d.txt"])
    assert e2e.cli("run").returncode == 0
    assert ran.read_text().split() == ["a", "c", "d"]
