"""Ctrl-C, the repository lock and the merge gate, through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from e2e_util import FAKE_CONFIG, E2EProject, alive, wait_until


def _popen(e2e: E2EProject, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "coordinator.cli", *args],
        cwd=e2e.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for(path: Path) -> None:
    wait_until(f"{path} to appear", path.exists)


def _wait_for_text(path: Path) -> None:
    """Until ``path`` exists and holds something (a pid written by another process)."""
    wait_until(f"{path} to fill", lambda: path.exists() and bool(path.read_text().strip()))


def test_ctrl_c_stops_keeps_work_and_run_resumes(e2e: E2EProject, tmp_path: Path) -> None:
    started, release, pids = tmp_path / "started", tmp_path / "release", tmp_path / "pids"
    e2e.spec(
        "slow",
        f"@pid {pids}\n@write partial.txt half\n@touch {started}\n@wait {release} 60\n"
        "@write slow.txt done",
        files=["slow.txt", "partial.txt"],
    )
    e2e.spec("later", "@write later.txt x", files=["later.txt"], deps=["slow"])
    proc = _popen(e2e, "run")
    _wait_for(started)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    tasks = e2e.tasks()
    assert tasks["slow"]["state"] == "cancelled"
    assert tasks["later"]["state"] in {"cancelled", "skipped"}
    kept = tasks["slow"]["branch"]
    assert kept.startswith("coordinator/cancelled/")
    assert e2e.git("show", f"{kept}:partial.txt") == "half\n"
    assert not any(alive(int(p)) for p in pids.read_text().split())
    release.touch()
    again = e2e.cli("run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert {t["state"] for t in e2e.tasks().values()} == {"merged"}


def test_second_coordinator_exits_75_naming_the_holder(e2e: E2EProject, tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    e2e.spec("hold", f"@touch {started}\n@wait {release} 60\n@write h.txt h", files=["h.txt"])
    first = _popen(e2e, "run")
    try:
        _wait_for(started)
        second = e2e.cli("run")
        assert second.returncode == 75
        assert f"pid {first.pid}" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        release.touch()
        first.communicate(timeout=60)
    assert first.returncode == 0


def test_stale_lock_of_a_dead_coordinator_is_taken_over(e2e: E2EProject) -> None:
    lock = e2e.root / ".git" / "coordinator" / "lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"pid": 999999, "host": "h", "started_at": 0, "purpose": "run"}))
    e2e.spec("t", "@write t.txt t", files=["t.txt"])
    result = e2e.cli("run")
    assert result.returncode == 0
    assert "stale lock" in result.stdout


def test_merge_gate_lands_only_passing_work(e2e: E2EProject) -> None:
    check = e2e.write(
        "check.py",
        "import pathlib, sys\n"
        "bad = pathlib.Path('bad.txt').exists()\n"
        "print('found bad.txt' if bad else 'ok')\nsys.exit(1 if bad else 0)\n",
    )
    e2e.git("add", "check.py")
    e2e.git("commit", "-q", "-m", "add check")
    e2e.config(FAKE_CONFIG + f'\n[merge]\nverify = ["{sys.executable}", "check.py"]\n')
    assert check.exists()
    e2e.spec("good", "@write good.txt fine", files=["good.txt"])
    e2e.spec("bad", "@write bad.txt broken", files=["bad.txt"])
    e2e.spec("after-bad", "@write x.txt x", files=["x.txt"], deps=["bad"])
    before = e2e.git("rev-parse", "main")
    result = e2e.cli("run")
    assert result.returncode == 1, result.stdout + result.stderr
    tasks = e2e.tasks()
    assert tasks["good"]["state"] == "merged"
    assert tasks["bad"]["state"] == "failed"
    assert tasks["bad"]["reason"] == "verify"
    assert tasks["after-bad"]["state"] == "skipped"
    assert "found bad.txt" in result.stdout
    assert "bad.txt" not in e2e.git("ls-tree", "-r", "--name-only", "coordinator/integration")
    assert e2e.git("show", f"{tasks['bad']['branch']}:bad.txt") == "broken\n"
    assert e2e.git("rev-parse", "main") == before


def test_admission_waits_for_disk_and_says_why(e2e: E2EProject) -> None:
    e2e.config("min_free_disk = 1000000000000000\n" + FAKE_CONFIG)
    e2e.spec("t", "@write t.txt t", files=["t.txt"])
    proc = _popen(e2e, "run", "--json")
    assert proc.stdout is not None
    line = ""
    for line in proc.stdout:
        if '"waiting"' in line:
            break
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    event = json.loads(line)
    assert "free disk" in event["message"]
    assert e2e.tasks()["t"]["state"] == "cancelled"


def test_admission_looks_at_the_disk_again_and_starts_once_space_frees(e2e: E2EProject) -> None:
    """Nothing else happens while a run waits for disk (no agent runs): it must look again."""
    filler = e2e.root.parent / "filler"  # on the same file system as the worktrees
    with filler.open("wb") as fh:
        os.posix_fallocate(fh.fileno(), 0, 1 << 30)
    try:
        threshold = shutil.disk_usage(e2e.root).free + (512 << 20)
        e2e.config(f"min_free_disk = {threshold}\n" + FAKE_CONFIG)
        e2e.spec("t", "@write t.txt t", files=["t.txt"])
        proc = _popen(e2e, "run", "--json")
        assert proc.stdout is not None
        for line in proc.stdout:
            if '"waiting"' in line:
                break
    finally:
        filler.unlink()
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    assert e2e.tasks()["t"]["state"] == "merged"


def test_second_ctrl_c_kills_at_once(e2e: E2EProject, tmp_path: Path) -> None:
    started = tmp_path / "started"
    stubborn = (
        "import os, pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "pathlib.Path('deaf.txt').write_text('partial')\n"
        "pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))\n"
        "time.sleep(600)\n"
    )
    e2e.config(
        FAKE_CONFIG
        + "\n[agents.stubborn]\n"
        + f"command = {json.dumps(['{python}', '-c', stubborn, str(started)])}\n"
    )
    e2e.spec("deaf", "ignores SIGTERM", agent="stubborn", files=["deaf.txt"])
    proc = _popen(e2e, "run", "--json")
    assert proc.stdout is not None
    _wait_for_text(started)
    agent = int(started.read_text())
    first = time.monotonic()
    proc.send_signal(signal.SIGINT)
    for line in proc.stdout:
        if '"stopping"' in line:
            break
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    # A graceful stop would wait 3 s for SIGTERM to work before SIGKILL; the second press may not.
    assert time.monotonic() - first < 2.7
    assert proc.returncode == 1
    task = e2e.tasks()["deaf"]
    assert task["state"] == "cancelled"
    assert not alive(agent)
    assert task["branch"].startswith("coordinator/cancelled/")
    assert e2e.git("show", f"{task['branch']}:deaf.txt") == "partial"
    # ... and the state it leaves resumes: the same task, now with an agent that finishes
    e2e.spec("deaf", "@write deaf.txt done", files=["deaf.txt"])
    again = e2e.cli("run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert e2e.git("show", "coordinator/integration:deaf.txt") == "done\n"


def test_second_ctrl_c_during_the_merge_gate_kills_the_gate(
    e2e: E2EProject, tmp_path: Path
) -> None:
    started = tmp_path / "gate-started"
    slow_gate = (
        "import os, pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))\n"
        "time.sleep(600)\n"
    )
    gate = json.dumps([sys.executable, "-c", slow_gate, str(started)])
    e2e.config(FAKE_CONFIG + f"\n[merge]\nverify = {gate}\n")
    e2e.spec("gated", "@write gated.txt x", files=["gated.txt"])
    head = e2e.git("rev-parse", "HEAD")
    proc = _popen(e2e, "run")
    _wait_for_text(started)
    checker = int(started.read_text())
    # Two different signals, so that neither is lost while the first is pending:
    # the engine sees them as the first and the second Ctrl-C.
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    assert not alive(checker)
    task = e2e.tasks()["gated"]
    assert (task["state"], task["reason"]) == ("cancelled", "interrupted during the merge gate")
    assert task["branch"].startswith("coordinator/cancelled/")
    assert e2e.git("rev-parse", "coordinator/integration") == head
    e2e.config(FAKE_CONFIG)
    again = e2e.cli("run")
    assert again.returncode == 0, again.stdout + again.stderr
