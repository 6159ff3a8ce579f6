"""``coordinator cron`` end to end, with a fake ``crontab`` (tests/bin/crontab) and the installed
line executed exactly as cron would: ``env -i /bin/sh -c LINE`` from another directory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_util import FAKE_CONFIG, E2EProject

from coordinator.commands.cron import MARK

FAKE_BIN = Path(__file__).resolve().parents[1] / "bin"
TARGET = "coordinator/integration"
OTHER_LINES = (
    "MAILTO=someone@example.com\n"
    "# m h dom mon dow command\n"
    "0 5 * * 1 /usr/bin/backup --all   # weekly, keep as is\n"
    "*/5 * * * * echo 'unrelated 100\\% sure' >> /tmp/never\n"
)


@pytest.fixture
def odd(tmp_path: Path) -> E2EProject:
    """A repository whose path needs quoting in sh and escaping in a crontab."""
    root = tmp_path / "it's 100% a repo" / "repo"
    root.mkdir(parents=True)
    project = E2EProject(root)
    project.git("init", "-q", "-b", "main")
    project.git("config", "user.name", "Test User")
    project.git("config", "user.email", "test@example.com")
    project.write("README.md", "# test repo\n")
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "initial")
    project.config(FAKE_CONFIG)
    return project


@pytest.fixture
def crontab_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake crontab's storage, with the fake first on PATH for every CLI call."""
    path = tmp_path / "crontab.txt"
    monkeypatch.setenv("FAKE_CRONTAB_FILE", str(path))
    monkeypatch.setenv("PATH", f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}")
    return path


def _command(line: str) -> str:
    """What cron hands to /bin/sh -c: the text after the five schedule fields, with cron's
    ``%`` rule applied (``\\%`` is a literal %, a bare % would end the command)."""
    command = line.split(None, 5)[5]
    assert "%" not in command.replace("\\%", ""), "an unescaped % would be cut by cron"
    return command.replace("\\%", "%")


def _run_as_cron(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["env", "-i", "/bin/sh", "-c", _command(line)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _ours(text: str) -> list[str]:
    return [line for line in text.splitlines() if "# worktree-coordinator:" in line]


def test_install_runs_like_cron_keeps_other_lines_and_removes(
    odd: E2EProject, crontab_file: Path, tmp_path: Path
) -> None:
    crontab_file.write_text(OTHER_LINES)
    odd.spec("hello", "@write hello.txt hi", files=["hello.txt"])

    preview = odd.cli("cron", "install", "--every", "15m", "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert preview.stdout.startswith(OTHER_LINES)
    assert crontab_file.read_text() == OTHER_LINES  # a dry run writes nothing
    (line,) = _ours(preview.stdout)
    assert line.startswith("*/15 * * * * ")

    installed = odd.cli("cron", "install", "--every", "15m")
    assert installed.returncode == 0, installed.stderr
    text = crontab_file.read_text()
    assert text.startswith(OTHER_LINES)  # every other line byte for byte, in place
    assert _ours(text) == [line]
    assert installed.stdout.strip() == f"installed: {line}"
    shown = odd.cli("cron", "show")
    assert shown.stdout.strip() == line
    assert "flock" not in line
    assert sys.executable in line.replace("\\%", "%")

    # Run it as cron does: empty environment, /bin/sh -c, another working directory.
    elsewhere = tmp_path / "cron-home"
    elsewhere.mkdir()
    first = _run_as_cron(line, elsewhere)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout == first.stderr == ""  # everything went to the log
    assert "Coordinator-Task: hello" in odd.git("log", "-1", "--format=%B", TARGET)
    log = odd.root / ".git" / "coordinator" / "cron.log"
    assert "merged" in log.read_text()
    second = _run_as_cron(line, elsewhere)
    assert second.returncode == 0, second.stderr
    assert log.read_text().splitlines()[-1].startswith("nothing to do")

    # Installing again replaces our line (one line per repository), other lines stay.
    again = odd.cli("cron", "install", "--every", "2h")
    assert again.returncode == 0, again.stderr
    (replaced,) = _ours(crontab_file.read_text())
    assert replaced.startswith("0 */2 * * * ")
    assert crontab_file.read_text().startswith(OTHER_LINES)

    preview_rm = odd.cli("cron", "remove", "--dry-run")
    assert preview_rm.returncode == 0
    assert preview_rm.stdout == OTHER_LINES
    assert _ours(crontab_file.read_text()) == [replaced]
    removed = odd.cli("cron", "remove")
    assert removed.returncode == 0 and removed.stdout.strip() == "removed"
    assert crontab_file.read_text() == OTHER_LINES
    assert odd.cli("cron", "show").stdout.strip() == "no crontab line for this repository"
    twice = odd.cli("cron", "remove")
    assert twice.returncode == 0 and twice.stdout.strip() == "no line was installed"
    assert crontab_file.read_text() == OTHER_LINES


def test_installed_line_exits_75_while_a_run_holds_the_lock(
    e2e: E2EProject, crontab_file: Path, tmp_path: Path
) -> None:
    started, barrier = tmp_path / "started", tmp_path / "barrier"
    e2e.spec("held", f"@touch {started}\n@wait {barrier} 60\n@write h.txt h", files=["h.txt"])
    assert e2e.cli("cron", "install", "--every", "1m").returncode == 0
    (line,) = _ours(crontab_file.read_text())
    assert line.startswith("* * * * * ")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    first = subprocess.Popen(
        [sys.executable, "-m", "coordinator.cli", "run"],
        cwd=e2e.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert started.exists(), first.communicate()
        overlapping = _run_as_cron(line, tmp_path)
        assert overlapping.returncode == 75
        cron_log = (e2e.root / ".git" / "coordinator" / "cron.log").read_text()
        assert cron_log.count("\n") == 1 and f"pid {first.pid}" in cron_log
    finally:
        barrier.touch()
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err
    assert _run_as_cron(line, tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("every", "schedule"),
    [("1m", "* * * * *"), ("5m", "*/5 * * * *"), ("30m", "*/30 * * * *"), ("1h", "0 * * * *"),
     ("6h", "0 */6 * * *"), ("24h", "0 0 * * *"), ("60s", "* * * * *")],
)  # fmt: skip
def test_intervals(e2e: E2EProject, crontab_file: Path, every: str, schedule: str) -> None:
    result = e2e.cli("cron", "install", "--every", every, "--dry-run")
    assert result.returncode == 0, result.stderr
    (line,) = _ours(result.stdout)
    assert line.startswith(schedule + " ")
    assert not crontab_file.exists()


@pytest.mark.parametrize("every", ["45m", "7h", "90s", "0m", "soon", "2d"])
def test_bad_interval_exit_2_one_line_nothing_written(
    e2e: E2EProject, crontab_file: Path, every: str
) -> None:
    crontab_file.write_text(OTHER_LINES)
    result = e2e.cli("cron", "install", "--every", every)
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "--every" in result.stderr
    assert crontab_file.read_text() == OTHER_LINES


def test_no_crontab_yet_and_missing_crontab_program(
    e2e: E2EProject, crontab_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert e2e.cli("cron", "show").stdout.strip() == "no crontab line for this repository"
    assert e2e.cli("cron", "remove").stdout.strip() == "no line was installed"
    assert not crontab_file.exists()
    # Without any crontab program: a clear line, not a traceback.
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    for tool in ("git", "sh"):
        found = subprocess.run(["which", tool], capture_output=True, text=True, check=True)
        (bare / tool).symlink_to(found.stdout.strip())
    monkeypatch.setenv("PATH", str(bare))
    result = e2e.cli("cron", "install")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: crontab is not installed (install cron, e.g. apt-get install cron); nothing changed"
    ]
    # A dry run needs no crontab program: it prints the line it would add, and says why alone.
    preview = e2e.cli("cron", "install", "--every", "30m", "--dry-run")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    (line,) = preview.stdout.splitlines()
    assert line.startswith("*/30 * * * * ") and "daemon --once" in line
    assert line.endswith(f"{MARK} {e2e.root}")
    assert "crontab is not installed" in preview.stderr
    assert not crontab_file.exists()
