"""``coordinator logs`` end to end: every part of a task's output under its header, and
``--follow`` from another terminal showing lines while the agent writes them."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

from e2e_util import FAKE_CONFIG, E2EProject, wait_until

TALKER = """
import pathlib, sys, time
print("line one", flush=True)
go = pathlib.Path(sys.argv[1])
deadline = time.monotonic() + 60
while not go.exists():
    assert time.monotonic() < deadline
    time.sleep(0.01)
print("line two", flush=True)
pathlib.Path("talk.txt").write_text("talked\\n")
"""


def _cli_popen(e2e: E2EProject, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "coordinator.cli", *args], cwd=e2e.root, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put("<EOF>")

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _until(lines: queue.Queue[str], wanted: str, seen: list[str]) -> None:
    while True:
        line = lines.get(timeout=60)
        seen.append(line)
        assert line != "<EOF>", seen
        if line == wanted:
            return


def test_logs_follow_shows_lines_while_the_agent_writes_them(
    e2e: E2EProject, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    script = tmp_path / "talker.py"
    script.write_text(TALKER)
    command = json.dumps(["{python}", str(script), str(go)])
    e2e.config(FAKE_CONFIG + f"\n[agents.talker]\ncommand = {command}\n")
    e2e.spec("talk", "talk", agent="talker", files=["talk.txt"])
    run = _cli_popen(e2e, "run")
    procs = [run]
    try:
        runs = e2e.root / ".git" / "coordinator" / "runs"
        wait_until("the task's log", lambda: any(runs.glob("*/logs/talk.log")))
        follower = _cli_popen(e2e, "logs", "talk", "--follow")
        procs.append(follower)
        lines, seen = _lines(follower), list[str]()
        _until(lines, "line one", seen)  # shown while the agent waits: it is streamed
        assert seen[0].startswith("==> talk attempt 1: setup and agent (") and seen[0].endswith(
            "talk.log) <=="
        )
        go.touch()
        _until(lines, "line two", seen)
        assert follower.wait(timeout=60) == 0  # it stops by itself once the task has ended
        assert run.wait(timeout=60) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert e2e.tasks()["talk"]["state"] == "merged"


def test_logs_shows_setup_agent_and_gate_each_headed(e2e: E2EProject, tmp_path: Path) -> None:
    setup = [sys.executable, "-c", "print('setting up')"]
    gate = [sys.executable, "-c", "print('gate says fine')"]
    e2e.config(
        FAKE_CONFIG + f"\n[worktree]\nsetup = {json.dumps(setup)}\n"
        + f"\n[merge]\nverify = {json.dumps(gate)}\n"
    )  # fmt: skip
    e2e.spec("t", "@write t.txt t", files=["t.txt"])
    assert e2e.cli("run").returncode == 0

    shown = e2e.cli("logs", "t")

    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    order = ["==> t attempt 1: setup and agent", "---- setup:", "setting up", "---- agent:",
             "==> t: merge gate", "gate says fine"]  # fmt: skip
    positions = [out.index(part) for part in order]
    assert positions == sorted(positions), out
    run_id = e2e.status()["run_id"]
    assert e2e.cli("logs", "t", "--run", run_id).stdout == out
    assert e2e.cli("logs", "t", "--follow").stdout == out  # an ended task: printed, then done
    unknown = e2e.cli("logs", "nope")
    assert unknown.returncode == 2 and "no run has a task 'nope'" in unknown.stderr
    assert e2e.cli("logs", "t", "--run", "r-nope").returncode == 2


# Says which task files the merge result holds; holds the first round back until released.
GATE = """
import pathlib, sys, time
release = pathlib.Path(sys.argv[1])
print("gate sees", " ".join(sorted(p.name for p in pathlib.Path().glob("?.txt"))), flush=True)
deadline = time.monotonic() + 60
while not release.exists():
    assert time.monotonic() < deadline
    time.sleep(0.01)
"""


def _states(e2e: E2EProject) -> set[str]:
    shown = e2e.cli("status", "--json")
    if shown.returncode != 0:
        return set()  # the run has not written its store yet
    return {t["state"] for t in json.loads(shown.stdout)["tasks"]}


def test_logs_shows_each_gate_run_of_a_batch_for_every_task_it_covered(
    e2e: E2EProject, tmp_path: Path
) -> None:
    # A batch's gate writes into the log of its last task: the other tasks of the batch must
    # still find it, and only the runs that covered them.
    release = tmp_path / "release"
    script = tmp_path / "gate.py"
    script.write_text(GATE)
    gate = json.dumps([sys.executable, str(script), str(release)])
    e2e.config(
        FAKE_CONFIG.replace("instances = 3", "instances = 4")
        + f"\n[merge]\nverify = {gate}\nparallel = 1\nbatch = 4\n"
    )
    names = ["a", "b", "c", "d"]
    for name in names:
        e2e.spec(name, f"@write {name}.txt {name}", files=[f"{name}.txt"])
    run = e2e.popen("run")
    try:
        # the first round's gate holds on; once every task waits, the rest form one batch
        wait_until("every task at the merge queue",
                   lambda: _states(e2e) <= {"merging", "verifying"} and bool(_states(e2e)))
        release.touch()
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, out + err
    finally:
        if run.poll() is None:
            run.kill()
    batched = False
    for name in names:
        shown = e2e.cli("logs", name)
        assert shown.returncode == 0, shown.stderr
        sections = [s for s in shown.stdout.split("==> ") if s.startswith(f"{name}: merge gate")]
        assert len(sections) == 1, shown.stdout  # the one gate run that covered it
        (section,) = sections
        assert "[coordinator] ---- merge gate" in section and "merge gate exited 0" in section
        seen = section.split("gate sees ", 1)[1].splitlines()[0].split()
        assert f"{name}.txt" in seen, section
        header = section.splitlines()[0]
        if " of " in header:
            batched = True
            group = header.split(" of ", 1)[1].split(" ", 1)[0].split("+")
            assert name in group and len(group) > 1
            assert header.endswith(f"{group[-1]}.verify.log) <==")
    assert batched  # some gate run covered more than one task
