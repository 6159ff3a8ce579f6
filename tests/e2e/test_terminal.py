"""On a terminal, ``run`` draws a live table and ends with the summary (a real pseudo-terminal)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from e2e_util import E2EProject


def _on_a_terminal(e2e: E2EProject, *args: str) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdout and stderr; everything it drew, as text."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(COLUMNS="160", LINES="50", TERM="xterm-256color")
    proc = subprocess.Popen(
        [sys.executable, "-m", "coordinator.cli", *args],
        cwd=e2e.root,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    code = proc.wait(timeout=120)
    text = b"".join(chunks).decode("utf-8", errors="replace")
    return code, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # without colours and cursor moves


def test_run_on_a_terminal_draws_the_live_table_then_the_summary(
    e2e: E2EProject, tmp_path: Path
) -> None:
    # each waits until the other runs: "up to 2 at once" whatever the machine's load
    one, two = tmp_path / "one-runs", tmp_path / "two-runs"
    e2e.spec("one", f"@touch {one}\n@wait {two} 60\n@write one.txt 1", files=["one.txt"])
    e2e.spec("two", f"@touch {two}\n@wait {one} 60\n@write two.txt 2\n@exit 4", files=["two.txt"])
    code, screen = _on_a_terminal(e2e, "run")
    assert code == 1, screen
    for column in ("task", "agent", "state", "try", "elapsed", "worktree / why"):
        assert column in screen, column
    assert re.search(r"one\s+│\s+fake\s+│\s+merged", screen), screen
    assert "finished in" in screen and "up to 2 at once" in screen
    assert "merged 1 of 2 tasks into coordinator/integration; not merged: 1 failed" in screen
    assert re.search(r"not merged: two \(failed: exit code 4\); branch coordinator/failed/", screen)
