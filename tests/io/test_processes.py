"""The process door: real processes; a command that cannot start is a result, not a raise."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil

from coordinator.io import processes


def test_output_input_and_exit_code_come_back() -> None:
    code = "import sys; d = sys.stdin.read(); print(d.upper()); print('bad', file=sys.stderr)"
    result = processes.run([sys.executable, "-c", code], input=b"hi")
    assert (result.returncode, result.stdout, result.stderr, result.ok) == (
        0, b"HI\n", b"bad\n", True,
    )  # fmt: skip
    failed = processes.run([sys.executable, "-c", "import sys; sys.exit('it broke')"])
    assert not failed.ok and failed.returncode == 1 and failed.error == ""
    assert failed.reason().endswith("exited 1: it broke")


def test_a_missing_executable_is_127_with_a_reason() -> None:
    result = processes.run(["/nonexistent/tool", "--x"])
    assert (result.returncode, result.ok) == (processes.EXIT_NOT_FOUND, False)
    assert result.error == (
        "cannot run `/nonexistent/tool --x`: executable '/nonexistent/tool' not found"
    )
    assert result.reason() == result.error
    started = processes.start(["no-such-program-anywhere"])
    assert started.popen is None and started.returncode == 127


def test_a_file_that_cannot_be_executed_is_126(tmp_path: Path) -> None:
    script = tmp_path / "plain.sh"
    script.write_text("echo hi\n")
    result = processes.run([str(script)])
    assert result.returncode == processes.EXIT_NOT_EXECUTABLE
    assert "cannot be executed" in result.error


def test_a_missing_working_directory_is_named(tmp_path: Path) -> None:
    result = processes.run([sys.executable, "-c", "pass"], cwd=tmp_path / "gone")
    assert result.returncode == 127
    assert "working directory" in result.error and "gone" in result.error


def test_a_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    result = processes.run([sys.executable, "-c", code], timeout=1.0)
    assert time.monotonic() - started < 30
    assert result.returncode == processes.EXIT_TIMED_OUT
    assert "timed out after 1s" in result.error
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while psutil.pid_exists(child) and psutil.Process(child).status() != "zombie":
        assert time.monotonic() < deadline, "the grandchild outlived the timeout"
        time.sleep(0.05)


def test_nothing_reads_the_keyboard() -> None:
    result = processes.run([sys.executable, "-c", "import sys; print(repr(sys.stdin.read()))"])
    assert result.text == "''\n"
