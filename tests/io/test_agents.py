"""Agents as real subprocesses: exit events, logs, environment, and killing whole trees.

No mocks and no sleeping to synchronise: tests wait on the event queue with a timeout, and
fake agents announce their pids through a FIFO (``--ready``) that the test polls.

The subreaper test runs its scenario (``SUBREAPER_SCRIPT``) in a child Python process, so the
pytest worker itself never becomes a subreaper and its orphans keep going to init, as every
other test (and other modules' tests in the same worker) expects.
"""

from __future__ import annotations

import json
import os
import queue
import select
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from coordinator.core.argv import agent_env
from coordinator.io.agents import (
    AgentExited,
    AgentProcess,
    LaunchSpec,
    kill_task_processes,
    kill_tree,
    reap_orphans,
    start_agent,
)
from coordinator.io.markers import MarkerContent, read_marker
from coordinator.io.procs import kill_run

AGENTS = Path(__file__).resolve().parents[1] / "agents"
REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0


def fake(name: str, *args: str) -> list[str]:
    return [sys.executable, str(AGENTS / name), *args]


def wait_exit(events: queue.Queue[object], task_id: str, timeout: float = TIMEOUT) -> AgentExited:
    deadline = time.monotonic() + timeout
    while True:
        event = events.get(timeout=max(0.0, deadline - time.monotonic()))
        if isinstance(event, AgentExited) and event.task_id == task_id:
            return event


def gone(pid: int) -> bool:
    """Exited: no such pid any more, or a zombie nobody has reaped yet."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class Ready:
    """A FIFO a fake agent writes one JSON line to; read it without sleeping."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        # Non-blocking open succeeds with no writer yet; Linux reports no hang-up on a FIFO
        # until a writer has connected, so poll() below simply waits for the agent.
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)

    def read(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        data = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                raise TimeoutError(f"no ready report in {self.path} after {timeout}s")
            chunk = os.read(self.fd, 4096)
            data += chunk
            if not chunk and data:
                return dict(json.loads(data))

    def close(self) -> None:
        os.close(self.fd)


class Harness:
    """Starts fake agents with a proper coordinator environment and cleans up after them."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.run_id = "test-" + uuid.uuid4().hex[:12]
        self.events: queue.Queue[object] = queue.Queue()
        self.started: list[AgentProcess] = []
        self.worktree = tmp_path / "worktree"
        self.worktree.mkdir()
        self._fifos: list[Ready] = []

    def values(self, task_id: str) -> dict[str, str]:
        return {
            "task_id": task_id,
            "spec": f"specs/{task_id}.md",
            "prompt_file": str(self.tmp / f"{task_id}.prompt.md"),
            "worktree": str(self.worktree),
            "marker": str(self.tmp / "markers" / f"{task_id}.json"),
            "base": "0" * 40,
            "run_id": self.run_id,
        }

    def ready(self, name: str = "ready") -> Ready:
        fifo = Ready(self.tmp / f"{name}.fifo")
        self._fifos.append(fifo)
        return fifo

    def start(
        self,
        task_id: str,
        argv: list[str],
        *,
        log_limit: int = 1024 * 1024,
        base_env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> AgentProcess:
        env = agent_env(
            dict(os.environ) if base_env is None else base_env, self.values(task_id), {}
        )
        spec = LaunchSpec(task_id, argv, cwd or self.worktree, env, self.log(task_id), log_limit)
        agent = start_agent(spec, self.events)
        self.started.append(agent)
        return agent

    def log(self, task_id: str) -> Path:
        return self.tmp / "logs" / f"{task_id}.log"

    def cleanup(self) -> None:
        for agent in self.started:
            kill_task_processes(agent, agent.task_id, self.run_id, timeout=1.0)
        for fifo in self._fifos:
            fifo.close()


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    try:
        yield harness
    finally:
        harness.cleanup()


# --- exit events ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (fake("sleep_then_mark.py", "--no-marker"), 0),
        (fake("crash.py", "--exit", "3"), 3),
        (fake("crash.py", "--traceback"), 1),
        (fake("crash.py", "--signal", "KILL"), -signal.SIGKILL),
        (fake("crash.py", "--signal", "SEGV"), -signal.SIGSEGV),
    ],
)
def test_exit_event_carries_the_returncode(h: Harness, argv: list[str], expected: int) -> None:
    before = time.time()
    agent = h.start("t1", argv)
    assert agent.pid is not None and agent.create_time is not None
    event = wait_exit(h.events, "t1")
    assert event.returncode == expected
    assert before <= event.at <= time.time()
    assert not agent.alive()
    assert agent.returncode == expected
    assert h.events.empty()  # exactly one event per agent


def test_several_agents_report_independently(h: Harness) -> None:
    for i in range(4):
        h.start(f"t{i}", fake("crash.py", "--exit", str(10 + i)))
    seen: dict[str, int] = {}
    while len(seen) < 4:
        event = h.events.get(timeout=TIMEOUT)
        assert isinstance(event, AgentExited)
        seen[event.task_id] = event.returncode
    assert seen == {f"t{i}": 10 + i for i in range(4)}


def test_agent_behaviour_can_come_from_the_prompt_file(h: Harness) -> None:
    Path(h.values("t1")["prompt_file"]).write_text("Do things.\nFAKE: --exit 7\n")
    h.start("t1", fake("sleep_then_mark.py", "--no-marker"))
    assert wait_exit(h.events, "t1").returncode == 7


# --- logs ----------------------------------------------------------------------------------


def test_stdout_and_stderr_go_to_the_log_which_is_appended(h: Harness) -> None:
    h.log("t1").parent.mkdir(parents=True)
    h.log("t1").write_text("[coordinator] header\n")
    h.start("t1", fake("crash.py", "--message", "to stderr", "--exit", "2"))
    wait_exit(h.events, "t1")
    h.start("t2", fake("sleep_then_mark.py", "--say", "to stdout", "--no-marker"))
    wait_exit(h.events, "t2")
    assert h.log("t1").read_text() == "[coordinator] header\nto stderr\n"
    assert h.log("t2").read_text() == "to stdout\n"


def test_a_spewing_agent_is_capped_and_never_blocks(h: Harness) -> None:
    limit = 64 * 1024
    started = time.monotonic()
    h.start("t1", fake("spew.py", "--bytes", "50M"), log_limit=limit)
    assert wait_exit(h.events, "t1", timeout=60).returncode == 0
    print(f"\n50 MB drained in {time.monotonic() - started:.2f}s")
    data = h.log("t1").read_bytes()
    notice = f"[coordinator] log truncated after {limit} bytes\n".encode()
    assert data.endswith(notice)
    body = data[: -len(notice)]
    # the cap cut a line in half, so the notice starts on a line of its own
    assert body[:limit] == (b"x" * 79 + b"\n") * (limit // 80) + b"x" * (limit % 80)
    assert body[limit:] == b"\n"


def test_output_of_exactly_the_limit_is_not_marked_truncated(h: Harness) -> None:
    h.start("t1", fake("spew.py", "--bytes", "8000"), log_limit=8000)
    wait_exit(h.events, "t1")
    assert len(h.log("t1").read_bytes()) == 8000


# --- failures to start ---------------------------------------------------------------------


def test_missing_executable_gives_127_and_a_logged_reason(h: Harness) -> None:
    agent = h.start("t1", ["/nonexistent/agent-binary", "--x"])
    event = wait_exit(h.events, "t1", timeout=1)
    assert event.returncode == 127
    assert agent.pid is None and not agent.alive() and agent.returncode == 127
    assert kill_task_processes(agent, "t1", h.run_id) == []
    text = h.log("t1").read_text()
    assert "could not start" in text and "/nonexistent/agent-binary" in text


def test_unexecutable_file_gives_126(h: Harness) -> None:
    script = h.tmp / "not-executable.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    h.start("t1", [str(script)])
    assert wait_exit(h.events, "t1", timeout=1).returncode == 126
    assert "Permission denied" in h.log("t1").read_text()


def test_missing_working_directory_is_reported_not_raised(h: Harness) -> None:
    h.start("t1", fake("sleep_then_mark.py"), cwd=h.tmp / "no-such-worktree")
    assert wait_exit(h.events, "t1", timeout=1).returncode == 127
    assert "no-such-worktree" in h.log("t1").read_text()


def test_empty_argv_is_a_programming_error(h: Harness) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        h.start("t1", [])


# --- environment ---------------------------------------------------------------------------


def test_agent_gets_cwd_env_own_session_and_no_stdin(h: Harness) -> None:
    out = h.tmp / "dump.json"
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_DIR": "/wrong/.git",
        "GIT_INDEX_FILE": "/wrong/index",
        "FAKE_DUMP": str(out),
    }
    tricky = "$(touch pwned) `id`; {marker}\nnext"
    agent = h.start("t1", fake("dump_env.py", tricky, "--spec={spec}"), base_env=base)
    assert wait_exit(h.events, "t1").returncode == 0
    data = json.loads(out.read_text())
    assert data["cwd"] == str(h.worktree)
    assert data["argv"][1:] == [tricky, "--spec={spec}"]  # argv is passed as given
    env = data["env"]
    assert env["COORDINATOR_TASK_ID"] == "t1"
    assert env["COORDINATOR_RUN_ID"] == h.run_id
    assert env["COORDINATOR_WORKTREE"] == str(h.worktree)
    assert env["COORDINATOR_MARKER"].endswith("t1.json")
    assert "GIT_DIR" not in env and "GIT_INDEX_FILE" not in env
    assert data["sid"] == data["pid"] == data["pgid"] == agent.pid
    assert data["stdin"] == "" and not data["stdin_is_tty"]
    assert not (h.worktree / "pwned").exists()


# --- killing -------------------------------------------------------------------------------


def test_kill_tree_kills_children_and_grandchildren(h: Harness) -> None:
    ready = h.ready()
    agent = h.start("t1", fake("fork_grandchild.py", "--ready", str(ready.path)))
    pids = ready.read()
    assert agent.pid == pids["pid"]
    assert agent.pid is not None
    killed = kill_tree(agent.pid, agent.create_time)
    assert set(killed) == {pids["pid"], pids["child"], pids["grandchild"]}
    assert wait_exit(h.events, "t1").returncode == -signal.SIGTERM
    assert all(gone(pid) for pid in killed)


def test_sigterm_ignored_everywhere_gets_sigkill(h: Harness) -> None:
    ready = h.ready()
    agent = h.start(
        "t1",
        fake(
            "hang.py",
            "--ignore-term",
            "--children",
            "2",
            "--children-ignore-term",
            "--ready",
            str(ready.path),
        ),
    )
    pids = ready.read()
    started = time.monotonic()
    killed = kill_task_processes(agent, "t1", h.run_id, timeout=0.3)
    assert time.monotonic() - started >= 0.3  # it did wait for SIGTERM first
    assert set(killed) == {pids["pid"], *pids["children"]}
    assert wait_exit(h.events, "t1").returncode == -signal.SIGKILL
    assert all(gone(pid) for pid in killed)


def test_orphaned_children_of_an_exited_agent_are_killed(h: Harness) -> None:
    ready = h.ready()
    agent = h.start("t1", fake("fork_grandchild.py", "--exit-parent", "--ready", str(ready.path)))
    pids = ready.read()
    assert wait_exit(h.events, "t1").returncode == 0
    # the tree below the agent's pid is gone, only the environment still ties them to t1
    killed = kill_task_processes(agent, "t1", h.run_id)
    assert set(killed) == {pids["child"], pids["grandchild"]}
    assert all(gone(pid) for pid in killed)


def test_a_pid_with_another_create_time_is_left_alone(h: Harness) -> None:
    ready = h.ready()
    agent = h.start("t1", fake("hang.py", "--ready", str(ready.path)))
    ready.read()
    assert agent.pid is not None and agent.create_time is not None
    assert kill_tree(agent.pid, agent.create_time - 3600) == []
    assert agent.alive() and not gone(agent.pid)
    assert kill_tree(agent.pid, agent.create_time) == [agent.pid]
    assert wait_exit(h.events, "t1").returncode == -signal.SIGTERM


def test_kill_tree_refuses_our_own_pid_and_ignores_dead_pids() -> None:
    with pytest.raises(ValueError, match="refusing"):
        kill_tree(os.getpid(), None)
    with pytest.raises(ValueError, match="refusing"):
        kill_tree(0, None)
    done = subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert done.returncode == 0
    assert kill_tree(2**22 + 12345, None) == []


def test_double_forked_daemon_is_found_by_environment_without_subreaper(h: Harness) -> None:
    ready = h.ready()
    agent = h.start("t1", fake("double_fork_setsid.py", "--ready", str(ready.path)))
    info = ready.read()
    assert wait_exit(h.events, "t1").returncode == 0
    daemon = info["daemon"]
    assert info["daemon_sid"] not in (agent.pid, daemon)  # outside the agent's session
    assert not gone(daemon)
    assert kill_task_processes(None, "t1", h.run_id) == [daemon]
    assert gone(daemon)
    assert kill_task_processes(None, "t1", h.run_id) == []
    assert kill_task_processes(agent, "t1", "some-other-run") == []


def test_kill_run_takes_every_process_of_the_run_whatever_its_task(h: Harness) -> None:
    """What recovery sweeps after a cut-off run: daemons of tasks whose end was recorded are
    found by the run's id alone; another run's processes are left alone."""
    ready, hanging = h.ready("daemon"), h.ready("hang")
    h.start("t1", fake("double_fork_setsid.py", "--ready", str(ready.path)))
    h.start("t2", fake("hang.py", "--ready", str(hanging.path)))
    daemon, agent = ready.read()["daemon"], hanging.read()["pid"]
    assert wait_exit(h.events, "t1").returncode == 0
    assert kill_run("some-other-run") == []
    assert not gone(daemon) and not gone(agent)
    assert kill_run(h.run_id, timeout=1.0) == sorted([daemon, agent])
    assert gone(daemon) and gone(agent)
    assert kill_run(h.run_id) == []


def test_kill_task_processes_takes_the_running_agent_and_its_daemon(h: Harness) -> None:
    ready = h.ready()
    agent = h.start(
        "t1",
        fake("double_fork_setsid.py", "--hang", "--daemon-ignore-term", "--ready", str(ready.path)),
    )
    info = ready.read()
    killed = kill_task_processes(agent, "t1", h.run_id, timeout=0.3)
    assert killed == sorted([info["agent"], info["daemon"]])
    assert wait_exit(h.events, "t1").returncode == -signal.SIGTERM
    assert all(gone(pid) for pid in killed)


def test_mark_then_hang_leaves_a_marker_and_must_be_killed(h: Harness) -> None:
    ready = h.ready()
    agent = h.start(
        "t1",
        fake(
            "mark_then_hang.py", "--ignore-term", "--summary", "did it", "--ready", str(ready.path)
        ),
    )
    assert ready.read()["pid"] == agent.pid
    marker = Path(h.values("t1")["marker"])
    assert read_marker(marker) == MarkerContent("done", "did it", True, None)
    assert agent.alive()
    assert kill_task_processes(agent, "t1", h.run_id, timeout=0.2) == [agent.pid]
    assert wait_exit(h.events, "t1").returncode == -signal.SIGKILL


def test_a_daemon_holding_the_log_pipe_delays_exit_only_briefly(h: Harness) -> None:
    ready = h.ready()
    started = time.monotonic()
    agent = h.start("t1", fake("double_fork_setsid.py", "--keep-stdio", "--ready", str(ready.path)))
    ready.read()
    assert wait_exit(h.events, "t1").returncode == 0
    assert time.monotonic() - started < 10
    assert len(kill_task_processes(agent, "t1", h.run_id)) == 1


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfds")
def test_reap_orphans_never_steals_a_popen_exit_status() -> None:
    plain = subprocess.Popen([sys.executable, "-c", "raise SystemExit(5)"])
    session = subprocess.Popen(
        [sys.executable, "-c", "raise SystemExit(6)"], start_new_session=True
    )
    for proc in (plain, session):
        _wait_exited(proc.pid)
        assert gone(proc.pid)
    assert reap_orphans() == []
    assert plain.wait(TIMEOUT) == 5
    assert session.wait(TIMEOUT) == 6


def _wait_exited(pid: int, timeout: float = TIMEOUT) -> None:
    """Wait for ``pid`` to exit without reaping it (a pidfd becomes readable at exit)."""
    fd = os.pidfd_open(pid)
    try:
        if not select.select([fd], [], [], timeout)[0]:
            raise TimeoutError(pid)
    finally:
        os.close(fd)


# --- subreaper, in a child interpreter -----------------------------------------------------

SUBREAPER_SCRIPT = textwrap.dedent(
    """
    import json, os, queue, select, subprocess, sys
    from pathlib import Path
    import psutil
    from coordinator.core.argv import agent_env
    from coordinator.io.agents import (AgentExited, LaunchSpec, become_subreaper, is_subreaper,
        kill_task_processes, reap_orphans, start_agent)

    tmp, agents = Path(sys.argv[1]), Path(sys.argv[2])
    out = {"before": is_subreaper(), "became": become_subreaper(), "after": is_subreaper()}
    events = queue.Queue()

    def launch(task, *args):
        values = {"task_id": task, "spec": "s", "prompt_file": "p", "worktree": str(tmp),
                  "marker": str(tmp / "m.json"), "base": "b", "run_id": "sub-run"}
        fifo = tmp / f"{task}.fifo"
        os.mkfifo(fifo)
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        argv = [sys.executable, str(agents / "double_fork_setsid.py"), "--ready", str(fifo),
                *args]
        spec = LaunchSpec(task, argv, tmp, agent_env(os.environ, values, {}),
                          tmp / f"{task}.log", 10000)
        agent = start_agent(spec, events)
        data = b""
        while True:
            select.select([fd], [], [], 20)
            chunk = os.read(fd, 4096)
            if not chunk and data:
                return agent, json.loads(data)
            data += chunk

    def exit_code(task):
        while True:
            event = events.get(timeout=20)
            if isinstance(event, AgentExited) and event.task_id == task:
                return event.returncode

    # 1. a double-forked daemon re-parents to us, is found and killed, and is reaped
    agent, info = launch("t1")
    daemon = info["daemon"]
    out["agent_rc"] = exit_code("t1")
    out["daemon_ppid_is_us"] = psutil.Process(daemon).ppid() == os.getpid()
    out["daemon_in_our_tree"] = daemon in [p.pid for p in psutil.Process().children(True)]
    out["killed"] = kill_task_processes(None, "t1", "sub-run") == [daemon]
    out["daemon_fully_reaped"] = not psutil.pid_exists(daemon)

    # 2. a daemon that exits on its own becomes our zombie and reap_orphans collects it,
    #    while a Popen child that exited at the same time keeps its status
    popen = subprocess.Popen([sys.executable, "-c", "raise SystemExit(9)"],
                             start_new_session=True)
    agent, info = launch("t2", "--daemon-exit-after", "0.05")
    daemon = info["daemon"]
    out["agent2_rc"] = exit_code("t2")
    for pid in (daemon, popen.pid):
        fd = os.pidfd_open(pid)
        select.select([fd], [], [], 20)
        os.close(fd)
    try:
        out["zombie"] = psutil.Process(daemon).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        out["zombie"] = True  # already a zombie, and already reaped by the waiter thread
    reaped = reap_orphans()
    # The agent's waiter thread also reaps after the agent's exit and may have got there first.
    out["reaped"] = (daemon in reaped or not psutil.pid_exists(daemon)) and (
        popen.pid not in reaped
    )
    out["daemon2_gone"] = not psutil.pid_exists(daemon)
    out["popen_rc"] = popen.wait(20)

    # 3. a session-leader orphan is reaped once the environment scan has identified it
    agent, info = launch("t3", "--no-second-fork")
    leader = info["daemon"]
    out["agent3_rc"] = exit_code("t3")
    out["leader"] = info["daemon_sid"] == leader and psutil.Process(leader).ppid() == os.getpid()
    out["leader_killed"] = kill_task_processes(None, "t3", "sub-run") == [leader]
    out["leader_gone"] = not psutil.pid_exists(leader)

    # 4. the known limit: a session leader that dies before any scan saw it is not reaped,
    #    because it looks exactly like another module's start_new_session Popen child
    agent, info = launch("t4", "--no-second-fork", "--daemon-exit-after", "0.05")
    leader = info["daemon"]
    exit_code("t4")
    fd = os.pidfd_open(leader)
    select.select([fd], [], [], 20)
    os.close(fd)
    out["unknown_leader_left"] = leader not in reap_orphans() and psutil.pid_exists(leader)
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="subreaper and pidfds are Linux-only")
def test_subreaper_catches_and_reaps_a_double_forked_setsid_grandchild(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", SUBREAPER_SCRIPT, str(tmp_path), str(AGENTS)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {
        "before": False,
        "became": True,
        "after": True,
        "agent_rc": 0,
        "daemon_ppid_is_us": True,
        "daemon_in_our_tree": True,
        "killed": True,
        "daemon_fully_reaped": True,
        "agent2_rc": 0,
        "zombie": True,
        "reaped": True,
        "daemon2_gone": True,
        "popen_rc": 9,
        "agent3_rc": 0,
        "leader": True,
        "leader_killed": True,
        "leader_gone": True,
        "unknown_leader_left": True,
    }
