"""Admission by memory (and load) and what each agent used, end to end through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from e2e_util import FAKE_CONFIG, E2EProject

# Burns CPU in itself and in a child it waits for, holds some memory, and says how much CPU
# it burned (as the kernel counted it) before exiting.
BURNER = """
import json, pathlib, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.5: pass"])
ballast = bytearray(64 * 1024 * 1024)
for i in range(0, len(ballast), 4096):
    ballast[i] = 1
start = time.process_time()
while time.process_time() - start < 1.0:
    pass
child.wait()
import resource
me = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
burned = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
pathlib.Path(sys.argv[1]).write_text(json.dumps({"burned": burned}))
pathlib.Path("burn.txt").write_text("burned\\n")
"""


def test_a_memory_floor_above_what_is_free_holds_every_start_until_lowered(
    e2e: E2EProject,
) -> None:
    e2e.config(f"min_free_memory = {10**15}\n" + FAKE_CONFIG)
    e2e.spec("a", "@write a.txt a", files=["a.txt"])
    e2e.spec("b", "@write b.txt b", files=["b.txt"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "coordinator.cli", "run", "--json"], cwd=e2e.root, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        before = []
        for line in proc.stdout:
            before.append(json.loads(line))
            if before[-1]["event"] == "waiting":
                break
        assert "free memory" in before[-1]["message"]
        assert "below min_free_memory" in before[-1]["message"]
        tasks = e2e.tasks()
        assert {t["state"] for t in tasks.values()} == {"pending"}
        assert all(t["started_at"] is None for t in tasks.values())
        e2e.config("min_free_memory = 0\n" + FAKE_CONFIG)  # the run reads it again
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    after = [json.loads(line) for line in out.splitlines()]
    kinds = [e["event"] for e in after]
    assert "admission" in kinds and kinds.index("admission") < kinds.index("started")
    assert "started" not in [e["event"] for e in before]
    assert {t["state"] for t in e2e.tasks().values()} == {"merged"}


def test_each_attempt_records_its_agent_trees_peak_memory_and_cpu(
    e2e: E2EProject, tmp_path: Path
) -> None:
    said = tmp_path / "burned.json"
    script = tmp_path / "burner.py"
    script.write_text(BURNER)
    command = json.dumps(["{python}", str(script), str(said)])
    e2e.config(FAKE_CONFIG + f"\n[agents.burner]\ncommand = {command}\n")
    e2e.spec("burn", "burn", agent="burner", files=["burn.txt"])

    result = e2e.cli("run")

    assert result.returncode == 0, result.stdout + result.stderr
    burned = json.loads(said.read_text())["burned"]
    assert burned >= 1.5
    data = e2e.status()
    used = data["tasks"][0]["resources"]
    assert used["cpu_seconds"] >= burned
    assert used["peak_rss_bytes"] >= 64 * 1024 * 1024
    assert data["tasks"][0]["attempts"][0]["resources"] == used
    assert data["resources"] == used and data["summary"]["resources"] == used
    assert "cpu " in result.stdout and "peak " in result.stdout  # the summary line
    assert "peak " in e2e.cli("review").stdout
