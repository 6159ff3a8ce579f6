"""Slots and ports, and retries of a failed agent, end to end through the CLI."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from e2e_util import FAKE_CONFIG, E2EProject

# Binds its port (so a second agent on the same port would fail), says so, and holds it until
# the other task has bound its own: both run, each with its port, at the same time.
SERVER = """
import json, os, pathlib, socket, sys, time
task, port, slot = os.environ["COORDINATOR_TASK_ID"], os.environ["COORDINATOR_PORT"], \\
    os.environ["COORDINATOR_SLOT"]
assert sys.argv[1:3] == [port, slot], (sys.argv, port, slot)
server = socket.socket()
server.bind(("127.0.0.1", int(port)))
server.listen()
signals = pathlib.Path(sys.argv[3])
(signals / f"{task}.tmp").write_text(json.dumps({"port": int(port), "slot": int(slot)}))
os.replace(signals / f"{task}.tmp", signals / f"{task}.json")
other = signals / ("b.json" if task == "a" else "a.json")
deadline = time.monotonic() + 30
while not other.exists():
    assert time.monotonic() < deadline, "the other agent never bound its port"
    time.sleep(0.01)
pathlib.Path(f"{task}.txt").write_text(f"served on {port}\\n")
"""


def _free_port_base() -> int:
    """A port the OS says is free now, as the base: other tests on this machine use ports too."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    return min(port, 65000)


def test_two_concurrent_agents_get_different_slots_and_each_binds_its_port(
    e2e: E2EProject, tmp_path: Path
) -> None:
    signals = tmp_path / "signals"
    signals.mkdir()
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    base = _free_port_base()
    command = ["{python}", str(script), "{port}", "{slot}", str(signals)]
    e2e.config(
        FAKE_CONFIG
        + f"\n[agents.server]\ncommand = {json.dumps(command)}\n"
        + f"\n[worktree]\nport_base = {base}\nport_stride = 5\n"
    )
    e2e.spec("a", "serve", agent="server", files=["a.txt"])
    e2e.spec("b", "serve", agent="server", files=["b.txt"])

    result = e2e.cli("run", "--instances", "2")

    assert result.returncode == 0, result.stdout + result.stderr
    seen = {t: json.loads((signals / f"{t}.json").read_text()) for t in ("a", "b")}
    assert {s["slot"] for s in seen.values()} == {0, 1}
    for task_id, said in seen.items():
        assert said["port"] == base + said["slot"] * 5
        task = e2e.tasks()[task_id]
        assert (task["slot"], task["port"]) == (said["slot"], said["port"])
        served = e2e.git("show", f"coordinator/integration:{task_id}.txt")
        assert served == f"served on {said['port']}\n"


def _retry_config(e2e: E2EProject) -> None:
    fake = FAKE_CONFIG.split("[agents.fake]")[1]
    e2e.config(FAKE_CONFIG + '\n[agents.flaky]' + fake + 'retries = 1\nretry_delay = "0.2s"\n')


def test_a_flaky_agent_that_fails_once_lands_on_its_second_attempt_from_the_new_head(
    e2e: E2EProject,
) -> None:
    _retry_config(e2e)
    e2e.spec("other", "@write other.txt other", files=["other.txt"])
    # Attempt 1 fails once `other` has landed, so attempt 2 must start from a head with it.
    flaky = "@if-attempt 1 @wait-merged other 30\n@if-attempt 1 @exit 1\n@write flaky.txt ok"
    e2e.spec("flaky", flaky, agent="flaky", files=["flaky.txt"])
    e2e.spec("hopeless", "@write hopeless.txt x\n@exit 4", agent="flaky", files=["hopeless.txt"])
    e2e.spec("after", "@write after.txt x", deps=["hopeless"], files=["after.txt"])

    result = e2e.cli("run", "--instances", "3")

    assert result.returncode == 1, result.stdout + result.stderr
    tasks = e2e.tasks()
    flaky_task = tasks["flaky"]
    assert flaky_task["state"] == "merged" and flaky_task["attempt"] == 2
    assert [a["outcome"] for a in flaky_task["attempts"]] == ["failed", "done"]
    assert flaky_task["attempts"][0]["reason"] == "exit code 1"
    assert e2e.git("show", "coordinator/integration:flaky.txt") == "ok\n"
    other_merge = tasks["other"]["merge_commit"]
    e2e.git("merge-base", "--is-ancestor", other_merge, flaky_task["base"])  # the new head
    run_id = e2e.status()["run_id"]
    assert e2e.git("branch", "--list", f"coordinator/failed/{run_id}/flaky").strip()
    logs = [Path(a["log"]) for a in flaky_task["attempts"]]
    assert logs[0] != logs[1] and all(log.exists() for log in logs)

    hopeless = tasks["hopeless"]
    assert hopeless["state"] == "failed" and hopeless["reason"] == "exit code 4"
    assert [a["outcome"] for a in hopeless["attempts"]] == ["failed", "failed"]
    assert tasks["after"]["state"] == "skipped"
    retries = [line for line in result.stdout.splitlines() if line.endswith("; retrying")]
    assert len(retries) == 2, result.stdout  # one retry each, then hopeless gave up
