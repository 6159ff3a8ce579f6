"""``coordinator daemon`` end to end: cron cycles (``--once``) and watch mode, real processes.

Waits poll git or ``status --json`` against a deadline; the fake agents never sleep.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from e2e_util import FAKE_CONFIG, E2EProject, alive

TARGET = "coordinator/integration"
DEADLINE = 60.0


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _start(e2e: E2EProject, *args: str) -> subprocess.Popen[str]:
    """A coordinator in the background, as cron or a service manager would start it."""
    return subprocess.Popen(
        [sys.executable, "-m", "coordinator.cli", *args],
        cwd=e2e.root,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _until(what: str, check: Callable[[], bool], proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"coordinator exited {proc.returncode} before {what}:\n{out}{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextmanager
def _reaped(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """Never leave a coordinator behind, even when an assertion fails."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _first_parent_merges(e2e: E2EProject) -> list[dict[str, Any]]:
    """Every merge commit on the target's first-parent history, newest first.

    Read with plumbing that ignores worktrees (``git branch --list`` inspects every worktree
    and can fail while the coordinator is adding one): this is polled during runs.
    """
    fmt = (
        "--format=%H%x00%P%x00%(trailers:key=Coordinator-Task,valueonly)%x00"
        "%(trailers:key=Coordinator-Spec-Digest,valueonly)%x1e"
    )
    done = subprocess.run(
        ["git", "log", "--first-parent", "--min-parents=2", fmt, f"refs/heads/{TARGET}", "--"],
        cwd=e2e.root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return []  # no target yet
    merges = []
    for record in filter(None, (r.strip("\n") for r in done.stdout.split("\x1e"))):
        sha, parents, task, digest = record.split("\x00")
        merges.append(
            {"sha": sha, "parents": parents.split(), "task": task.strip(), "digest": digest.strip()}
        )
    return merges


def _landed_tasks(e2e: E2EProject) -> list[str]:
    return [m["task"] for m in _first_parent_merges(e2e)]


def _branch_head(e2e: E2EProject, branch: str) -> str:
    return e2e.git("rev-parse", f"refs/heads/{branch}").strip()


def _daemon_record(e2e: E2EProject) -> dict[str, Any]:
    data = e2e.status()
    assert "daemon" in data, data
    record: dict[str, Any] = data["daemon"]
    return record


def _polled_record(e2e: E2EProject) -> dict[str, Any]:
    """The daemon's last cycle, or {} while there is none yet (for polling)."""
    result = e2e.cli("status", "--json")
    if result.returncode != 0:
        return {}
    record: dict[str, Any] = json.loads(result.stdout).get("daemon") or {}
    return record


def _lock_free(e2e: E2EProject) -> bool:
    lock = e2e.root / ".git" / "coordinator" / "lock"
    return not lock.exists() or lock.read_text() == ""


# ------------------------------------------------------------------------------- --once


def test_once_lands_new_then_changed_but_never_unchanged(e2e: E2EProject) -> None:
    e2e.spec("a", "@write a.txt a1", files=["a.txt"])
    e2e.spec("b", "@write b.txt b1", files=["b.txt"])
    first = e2e.cli("daemon", "--once")
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(_landed_tasks(e2e)) == ["a", "b"]
    record = _daemon_record(e2e)
    assert record["exit_code"] == 0
    assert record["counts"] == {"merged": 2}
    assert sorted(item["id"] for item in record["landed"]) == ["a", "b"]

    # A spec added between cycles lands in the next one; the others are left alone.
    e2e.spec("c", "@write c.txt c1", files=["c.txt"])
    second = e2e.cli("daemon", "--once")
    assert second.returncode == 0, second.stdout + second.stderr
    assert _landed_tasks(e2e)[0] == "c"
    assert sorted(_landed_tasks(e2e)) == ["a", "b", "c"]

    # Unchanged: nothing to do, in one line, and the target does not move.
    head = _branch_head(e2e, TARGET)
    quiet = e2e.cli("daemon", "--once")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.count("\n") == 1 and quiet.stdout.startswith("nothing to do"), quiet.stdout
    assert "3 tasks up to date" in quiet.stdout
    assert quiet.stderr == ""
    assert _branch_head(e2e, TARGET) == head
    assert _daemon_record(e2e)["message"] == quiet.stdout.strip()

    # A changed spec lands again: a new merge commit, the earlier branch set aside, not lost.
    old_a_head = _branch_head(e2e, "coordinator/task/a")
    old_digest = next(m["digest"] for m in _first_parent_merges(e2e) if m["task"] == "a")
    e2e.spec("a", "@write a.txt a2", files=["a.txt"])
    third = e2e.cli("daemon", "--once")
    assert third.returncode == 0, third.stdout + third.stderr
    merges = _first_parent_merges(e2e)
    order = [m["task"] for m in merges]
    assert order[:2] == ["a", "c"] and sorted(order[2:]) == ["a", "b"], order
    assert merges[0]["digest"] and merges[0]["digest"] != old_digest
    assert e2e.git("show", f"{TARGET}:a.txt") == "a2\n"
    aside = e2e.git("branch", "--list", "coordinator/old/*/a", "--format=%(objectname)").split()
    assert aside == [old_a_head]
    assert e2e.tasks().keys() == {"a"}  # only a ran in this cycle

    # Every merge: its second parent is the task branch that landed (the set-aside branch for
    # the first landing of a), its first parent the previous target head.
    heads = {t: _branch_head(e2e, f"coordinator/task/{t}") for t in ("a", "b", "c")}
    landed_a = [heads["a"], old_a_head]  # newest first, like the log
    for merge in merges:
        assert len(merge["parents"]) == 2
        expected = landed_a.pop(0) if merge["task"] == "a" else heads[merge["task"]]
        assert merge["parents"][1] == expected, merge
    for newer, older in itertools.pairwise(merges):
        assert newer["parents"][0] == older["sha"]


def test_once_with_nothing_at_all_to_do_is_quick(e2e: E2EProject) -> None:
    e2e.spec("only", "@write only.txt x", files=["only.txt"])
    assert e2e.cli("run").returncode == 0
    run_id = e2e.status()["run_id"]
    started = time.monotonic()
    result = e2e.cli("daemon", "--once")
    assert result.returncode == 0
    assert result.stdout.splitlines() == [result.stdout.strip()]
    assert "nothing to do" in result.stdout
    # Quick means no run at all: no run recorded, no worktree, no agent (and a loose bound
    # on time that only a badly overloaded machine could break).
    assert e2e.status()["run_id"] == run_id
    assert time.monotonic() - started < 30
    log = (e2e.root / ".git" / "coordinator" / "daemon.log").read_text().splitlines()
    assert json.loads(log[-1])["message"].startswith("nothing to do")
    last = json.loads((e2e.root / ".git" / "coordinator" / "daemon-last.json").read_text())
    assert last == json.loads(log[-1])


def test_overlapping_cycles_never_both_run(e2e: E2EProject, tmp_path: Path) -> None:
    started, barrier = tmp_path / "started", tmp_path / "barrier"
    e2e.spec("slow", f"@touch {started}\n@wait {barrier} 60\n@write s.txt s", files=["s.txt"])
    with _reaped(_start(e2e, "daemon", "--once")) as first:
        _until("the first cycle's agent to start", started.exists, first)
        second = e2e.cli("daemon", "--once")
        assert second.returncode == 75, second.stdout + second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert f"pid {first.pid}" in lines[0] and "(daemon)" in lines[0]
        assert second.stdout == ""
        # Even a broken spec does not change the answer: the lock is checked first.
        e2e.write("specs/broken.md", "---\nagent: [unclosed\n---\n")
        third = e2e.cli("daemon", "--once")
        assert third.returncode == 75, third.stderr
        (e2e.root / "specs" / "broken.md").unlink()
        # ... and a manual run waits its turn the same way.
        assert e2e.cli("run").returncode == 75
        barrier.touch()
        out, err = first.communicate(timeout=DEADLINE)
        assert first.returncode == 0, out + err
    assert _landed_tasks(e2e) == ["slow"]
    assert _lock_free(e2e)
    assert e2e.cli("daemon", "--once").returncode == 0


def _notify_into(e2e: E2EProject, tmp_path: Path) -> Path:
    """Configure ``[daemon] notify`` with a script appending each summary as one JSON line to
    the returned file."""
    inbox = tmp_path / "notified.jsonl"
    notifier = tmp_path / "notify.py"
    notifier.write_text(
        "import sys\n"
        f"with open({str(inbox)!r}, 'a') as fh:\n"
        "    fh.write(sys.stdin.read().replace('\\n', ' ') + '\\n')\n"
    )
    e2e.config(FAKE_CONFIG + f'\n[daemon]\nnotify = ["{sys.executable}", "{notifier}"]\n')
    return inbox


def test_failed_task_exit_1_notify_and_no_rerun_until_changed(
    e2e: E2EProject, tmp_path: Path
) -> None:
    inbox = _notify_into(e2e, tmp_path)
    e2e.spec("good", "@write good.txt ok\n@marker done wrote good", files=["good.txt"])
    e2e.spec("boom", "@write boom.txt half\n@exit 3", files=["boom.txt"])
    e2e.spec("after", "@write after.txt x", files=["after.txt"], deps=["boom"])

    first = e2e.cli("daemon", "--once")
    assert first.returncode == 1, first.stdout + first.stderr
    notes = [json.loads(line) for line in inbox.read_text().splitlines()]
    assert len(notes) == 1
    assert notes[0]["counts"] == {"merged": 1, "failed": 1, "skipped": 1}
    assert notes[0]["landed"][0]["id"] == "good"
    assert notes[0]["landed"][0]["summary"] == "wrote good"
    assert {u["id"] for u in notes[0]["unmerged"]} == {"boom", "after"}
    assert _daemon_record(e2e)["exit_code"] == 1

    # The same failing spec is not retried every cycle, and a quiet cycle notifies nobody.
    again = e2e.cli("daemon", "--once")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "boom" in again.stdout and "after" in again.stdout
    assert len(again.stdout.splitlines()) == 1
    assert len(inbox.read_text().splitlines()) == 1
    assert _daemon_record(e2e)["held"] == ["boom"]

    # New work still runs beside it; the cycle says what it left waiting.
    e2e.spec("extra", "@write extra.txt e", files=["extra.txt"])
    beside = e2e.cli("daemon", "--once")
    assert beside.returncode == 0, beside.stdout + beside.stderr
    assert beside.stdout.splitlines()[-1].startswith("not run: 1 failed"), beside.stdout
    assert "boom" in beside.stdout.splitlines()[-1]
    assert _landed_tasks(e2e)[0] == "extra"
    assert len(inbox.read_text().splitlines()) == 2

    # Fixing the spec reruns it, and its dependent with it.
    e2e.spec("boom", "@write boom.txt fixed", files=["boom.txt"])
    fixed = e2e.cli("daemon", "--once")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert sorted(_landed_tasks(e2e)) == ["after", "boom", "extra", "good"]
    assert len(inbox.read_text().splitlines()) == 3
    assert "not run" not in fixed.stdout


def test_bad_spec_exit_2_recorded_nothing_changed(e2e: E2EProject) -> None:
    e2e.spec("fine", "@write fine.txt ok", files=["fine.txt"])
    e2e.write("specs/broken.md", "---\nagent: fake\ndepends_on: [nope]\n---\nbody\n")
    result = e2e.cli("daemon", "--once")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "nope" in result.stderr
    assert e2e.git("branch", "--list", TARGET) == ""
    record = json.loads((e2e.root / ".git" / "coordinator" / "daemon-last.json").read_text())
    assert record["exit_code"] == 2 and "nope" in record["error"]


def test_a_cycle_stuck_on_bad_input_notifies_once(e2e: E2EProject, tmp_path: Path) -> None:
    inbox = _notify_into(e2e, tmp_path)
    e2e.write("specs/broken.md", "---\nagent: fake\ndepends_on: [nope]\n---\nbody\n")
    for _ in range(2):
        assert e2e.cli("daemon", "--once").returncode == 2
    notes = [json.loads(line) for line in inbox.read_text().splitlines()]
    assert len(notes) == 1 and notes[0]["exit_code"] == 2 and "nope" in notes[0]["error"]
    e2e.write("specs/broken.md", "---\nagent: fake\ndepends_on: [other]\n---\nbody\n")
    assert e2e.cli("daemon", "--once").returncode == 2  # a different error: said again
    assert len(inbox.read_text().splitlines()) == 2


def test_status_shows_daemon_cycle_without_any_run(e2e: E2EProject) -> None:
    e2e.spec("one", "@write one.txt 1", files=["one.txt"])
    assert e2e.cli("run").returncode == 0
    # A fresh store (a clone, or state lost): git still says what landed.
    (e2e.root / ".git" / "coordinator" / "state.db").unlink()
    for leftover in (e2e.root / ".git" / "coordinator").glob("state.db-*"):
        leftover.unlink()
    assert e2e.cli("status").returncode == 1
    result = e2e.cli("daemon", "--once")
    assert result.returncode == 0 and "nothing to do" in result.stdout
    data = e2e.status()
    assert data["run_id"] is None and data["tasks"] == []
    assert data["daemon"]["message"].startswith("nothing to do")
    text = e2e.cli("status")
    assert text.returncode == 0
    assert "daemon: last cycle" in text.stdout


# ---------------------------------------------------------------------------- watch mode


def _watch_config(debounce: str = "0.1s") -> str:
    return FAKE_CONFIG + f'\n[daemon]\ndebounce = "{debounce}"\n'


def test_watch_lands_new_specs_until_sigterm(e2e: E2EProject, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    e2e.config(_watch_config())
    e2e.spec("first", f"@pid {pids}\n@write first.txt 1", files=["first.txt"])
    with _reaped(_start(e2e, "daemon")) as daemon:
        _until("the first spec to land", lambda: "first" in _landed_tasks(e2e), daemon)
        e2e.spec("second", f"@pid {pids}\n@write second.txt 2", files=["second.txt"])
        _until("the added spec to land", lambda: "second" in _landed_tasks(e2e), daemon)
        _until(
            "the cycle to be recorded",
            lambda: [i["id"] for i in _polled_record(e2e).get("landed", [])] == ["second"],
            daemon,
        )
        # A second daemon, or a cron cycle, meets the lock.
        assert e2e.cli("daemon", "--once").returncode == 75
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=DEADLINE)
    assert daemon.returncode == 0, out + err
    assert "Traceback" not in err
    assert _lock_free(e2e)
    for pid in map(int, pids.read_text().split()):
        assert not alive(pid), pid
    assert _landed_tasks(e2e) == ["second", "first"]
    assert e2e.cli("daemon", "--once").returncode == 0


def test_watch_debounces_a_burst_of_new_specs_into_one_cycle(e2e: E2EProject) -> None:
    e2e.config(_watch_config(debounce="1s"))
    e2e.spec("first", "@write first.txt 1", files=["first.txt"])
    log = e2e.root / ".git" / "coordinator" / "daemon.log"
    with _reaped(_start(e2e, "daemon")) as daemon:
        _until("the first cycle", lambda: "first" in _landed_tasks(e2e), daemon)
        _until("its record", lambda: log.exists() and len(log.read_text().splitlines()) == 1)
        for name in ("b1", "b2", "b3"):  # well within one debounce interval
            e2e.spec(name, f"@write {name}.txt x", files=[f"{name}.txt"])
        _until("the burst to land", lambda: {"b1", "b2", "b3"} <= set(_landed_tasks(e2e)), daemon)
        _until("its record", lambda: len(log.read_text().splitlines()) >= 2, daemon)
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=DEADLINE)
    cycles = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(cycles) == 2, cycles
    assert sorted(t["id"] for t in cycles[1]["landed"]) == ["b1", "b2", "b3"]


def test_watch_survives_a_broken_spec_and_lands_it_once_fixed(e2e: E2EProject) -> None:
    e2e.config(_watch_config())
    e2e.spec("ok", "@write ok.txt ok", files=["ok.txt"])
    with _reaped(_start(e2e, "daemon")) as daemon:
        _until("the first spec to land", lambda: "ok" in _landed_tasks(e2e), daemon)
        e2e.write("specs/late.md", "---\nagent: fake\nfiles: [late.txt\n---\n@write late.txt x\n")
        _until(
            "the broken spec to be reported",
            lambda: _polled_record(e2e).get("exit_code") == 2,
            daemon,
        )
        e2e.spec("late", "@write late.txt x", files=["late.txt"])
        _until("the fixed spec to land", lambda: "late" in _landed_tasks(e2e), daemon)
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=DEADLINE)
    assert daemon.returncode == 0, out + err
    assert "late.md" in err  # the problem was said, on stderr, and the daemon went on


def test_watch_sigterm_during_a_cycle_stops_the_run_and_the_daemon(
    e2e: E2EProject, tmp_path: Path
) -> None:
    started, pids = tmp_path / "started", tmp_path / "pids"
    e2e.config(_watch_config())
    e2e.spec(
        "stuck",
        f"@pid {pids}\n@touch {started}\n@wait {tmp_path / 'never'} 120\n@write s.txt s",
        files=["s.txt"],
    )
    with _reaped(_start(e2e, "daemon")) as daemon:
        _until("the agent to start", started.exists, daemon)
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=DEADLINE)
    assert daemon.returncode == 0, out + err
    assert _lock_free(e2e)
    assert not alive(int(pids.read_text().split()[0]))
    assert e2e.tasks()["stuck"]["state"] == "cancelled"
    assert _landed_tasks(e2e) == []


def test_watch_sigterm_while_the_first_cycle_prepares(e2e: E2EProject, tmp_path: Path) -> None:
    """A stop that lands after the lock is taken but before the engine listens (specs being
    read, the target prepared) must still stop the run and the daemon, not be lost."""
    e2e.config(_watch_config())
    e2e.spec("stuck", f"@wait {tmp_path / 'never'} 120\n@write s.txt s", files=["s.txt"])
    lock = e2e.root / ".git" / "coordinator" / "lock"
    with _reaped(_start(e2e, "daemon")) as daemon:
        _until("the lock to be taken", lambda: lock.exists() and lock.read_text() != "", daemon)
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=DEADLINE)
    assert daemon.returncode == 0, out + err
    assert _lock_free(e2e)
    assert _landed_tasks(e2e) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_watch_stops_while_idle(e2e: E2EProject, sig: signal.Signals) -> None:
    e2e.config(_watch_config())
    e2e.spec("idle", "@write idle.txt i", files=["idle.txt"])
    with _reaped(_start(e2e, "daemon")) as daemon:
        _until("the first cycle", lambda: "idle" in _landed_tasks(e2e), daemon)
        _until("the cycle record", lambda: bool(_polled_record(e2e)), daemon)
        daemon.send_signal(sig)
        out, err = daemon.communicate(timeout=DEADLINE)
    assert daemon.returncode == 0, out + err
    assert _lock_free(e2e)


# The daemon's idle wait, with SIGTERM delivered to another thread (as the kernel may deliver it
# to the observer's): the Python handler only runs once the main thread runs bytecode again.
SIGNAL_ELSEWHERE = """
import signal, threading, time
from coordinator.commands.daemon_watch import _Watch
state = _Watch()
signal.set_wakeup_fd(state.wake_w, warn_on_full_buffer=False)
signal.signal(signal.SIGTERM, state.on_signal)

def other_thread() -> None:
    time.sleep(0.5)  # (only so that the main thread is already waiting: either way it stops)
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

threading.Thread(target=other_thread).start()
print("stopped" if state.wait_for_change(60.0) is False else "went on", flush=True)
"""


def test_the_idle_wait_sees_a_signal_another_thread_received() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SIGNAL_ELSEWHERE], capture_output=True, text=True, timeout=60
    )  # a wait that never wakes up would hang here until the timeout
    assert done.returncode == 0, done.stderr
    assert done.stdout == "stopped\n"
