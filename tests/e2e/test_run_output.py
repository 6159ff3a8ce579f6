"""What a run prints off a terminal is written for a person (issue 11, items 7 and 10)."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from e2e_util import FAKE_CONFIG, E2EProject, alive, wait_until

INTERNAL = re.compile(
    r"\b(agent-failed|timing|killed terminated|finished agent done)\b|branch \S+ kept\s*$"
)


def _no_internal_names(out: str) -> None:
    for line in out.splitlines():
        assert not INTERNAL.search(line), line


def test_plain_lines_say_what_happened(e2e: E2EProject) -> None:
    e2e.config(FAKE_CONFIG + '\n[merge]\nverify = ["sh", "-c", '
               '"test ! -e bad.txt || { echo first; echo found bad.txt; exit 1; }"]\n')  # fmt: skip
    e2e.spec("good", "@write good.txt g", files=["good.txt"])
    e2e.spec("bad", "@write bad.txt b", files=["bad.txt"])
    e2e.spec("crash", "@exit 4", files=["c.txt"])
    result = e2e.cli("run")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    _no_internal_names(out)
    assert out.splitlines()[0].endswith(": 3 tasks, merging into coordinator/integration")
    assert "good: agent done (it exited 0)" in out
    assert re.search(r"good: merged into coordinator/integration as [0-9a-f]{12}\n", out)
    assert "crash: agent failed: exit code 4" in out
    lines = out.splitlines()
    gate = next(i for i, line in enumerate(lines) if "bad: not merged (failed): verify" in line)
    assert lines[gate].endswith("; the output ended with:"), lines[gate]
    assert "its work is kept on branch coordinator/failed/" in lines[gate]
    assert [lines[gate + 1].strip(), lines[gate + 2].strip()] == ["first", "found bad.txt"]
    assert "speedup" not in out  # a run of a second measures start-up, not parallel work
    assert "merged 1 of 3 tasks into coordinator/integration; not merged: 2 failed" in out
    # review keeps the refused merge's output tail beside what landed
    review = e2e.cli("review", "bad", "good")
    assert review.returncode == 0, review.stdout + review.stderr
    text = review.stdout
    assert "task good" in text
    assert "bad: not landed: failed (verify" in text, text
    assert "      first\n      found bad.txt" in text, text
    assert re.search(r"merge gate log: \S+bad\.verify\.log", text), text
    assert "      its work: coordinator/failed/" not in text  # its own line, four spaces in
    assert "    its work: coordinator/failed/" in text


@pytest.mark.slow
def test_an_interrupted_run_says_so_in_words(e2e: E2EProject, tmp_path: Path) -> None:
    started, pids = tmp_path / "started", tmp_path / "pids"
    e2e.spec("slow", f"@spawn 60 {pids}\n@touch {started}\n@hang", files=["slow.txt"])
    run = e2e.popen("run")
    wait_until("the agent to start", started.exists)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 1, out + err
    _no_internal_names(out)
    assert "slow: agent stopped (interrupted)" in out
    assert re.search(r"slow: stopped \d leftover process(es)? of its agent", out), out
    assert "slow: not merged (cancelled): interrupted; its work is kept on branch" in out
    assert not any(alive(int(pid)) for pid in pids.read_text().split())


def test_a_dirty_checkout_is_named_once(e2e: E2EProject) -> None:
    e2e.spec("edit", "@write src/base.txt changed", files=["src/base.txt", "docs/*.md"])
    e2e.spec("other", "@write other.txt o", files=["other.txt"])
    e2e.write("src/base.txt", "my uncommitted edit\n")
    e2e.write("docs/new.md", "an untracked draft\n")
    e2e.write("notes.txt", "unrelated\n")
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line for line in result.stdout.splitlines() if "uncommitted changes" in line]
    assert len(warnings) == 1, result.stdout
    head = e2e.git("rev-parse", "main").strip()[:12]
    assert warnings[0].endswith(
        "warning: uncommitted changes in your checkout to 2 files tasks will change: "
        "docs/new.md (edit), src/base.txt (edit); tasks start from coordinator/integration "
        f"({head}) without them (commit them first if the tasks need them)"
    ), warnings[0]
    assert (e2e.root / "src/base.txt").read_text() == "my uncommitted edit\n"
    quiet = e2e.cli("run", "--only", "other")
    assert "uncommitted" not in quiet.stdout
