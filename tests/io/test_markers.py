"""Marker detection with a real watchdog observer, and marker parsing.

Every wait is a ``queue.get`` with a timeout; nothing sleeps to let the observer catch up.
"""

from __future__ import annotations

import json
import os
import queue
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.io.markers import (
    MAX_MARKER_BYTES,
    MarkerContent,
    MarkerSeen,
    MarkerWatcher,
    read_marker,
)

AGENTS = Path(__file__).resolve().parents[1] / "agents"
TIMEOUT = 10.0


def next_seen(events: queue.Queue[object], timeout: float = TIMEOUT) -> MarkerSeen:
    event = events.get(timeout=timeout)
    assert isinstance(event, MarkerSeen)
    return event


def wait_seen(events: queue.Queue[object], task_id: str, timeout: float = TIMEOUT) -> MarkerSeen:
    """The first MarkerSeen for ``task_id``; fails if one for another task comes first."""
    deadline = time.monotonic() + timeout
    while True:
        event = next_seen(events, max(0.0, deadline - time.monotonic()))
        assert event.task_id == task_id, f"unexpected event {event}"
        return event


def drain(events: queue.Queue[object]) -> list[MarkerSeen]:
    out: list[MarkerSeen] = []
    while True:
        try:
            event = events.get_nowait()
        except queue.Empty:
            return out
        assert isinstance(event, MarkerSeen)
        out.append(event)


def write_atomically(path: Path, text: str, tmp_dir: Path | None = None) -> None:
    tmp = (tmp_dir or path.parent) / f".{path.name}.tmp"
    tmp.write_text(text)
    os.replace(tmp, path)


@pytest.fixture
def events() -> queue.Queue[object]:
    return queue.Queue()


@pytest.fixture(params=[False, True], ids=["native", "polling"])
def watcher(
    request: pytest.FixtureRequest, tmp_path: Path, events: queue.Queue[object]
) -> Iterator[MarkerWatcher]:
    w = MarkerWatcher(tmp_path / "markers" / "run-1", events, polling=request.param)
    w.start()
    try:
        yield w
    finally:
        w.stop()


# --- the watcher ---------------------------------------------------------------------------


def test_marker_path_and_directory_created(watcher: MarkerWatcher) -> None:
    assert watcher.directory.is_dir()
    assert watcher.marker_path("add-login") == watcher.directory / "add-login.json"


def test_created_marker_is_seen(watcher: MarkerWatcher, events: queue.Queue[object]) -> None:
    before = time.time()
    watcher.marker_path("t1").write_text('{"status": "done", "summary": "ok"}')
    seen = wait_seen(events, "t1")
    assert seen.path == watcher.marker_path("t1")
    assert before <= seen.at <= time.time()
    assert read_marker(seen.path) == MarkerContent("done", "ok", True, None)


def test_modified_marker_is_seen_again(watcher: MarkerWatcher, events: queue.Queue[object]) -> None:
    path = watcher.marker_path("t1")
    path.write_text("")
    wait_seen(events, "t1")
    with path.open("w") as fh:  # rewrite in place: truncate, then write
        fh.write(json.dumps({"status": "failed", "summary": "tests broke"}))
    # Each event means "read again"; a reader may catch the truncated file in between, so it
    # keeps reading on each event until the content it waits for is there.
    while True:
        wait_seen(events, "t1")
        content = read_marker(path)
        if content is not None and content.status == "failed" and content.valid:
            break
    assert content == MarkerContent("failed", "tests broke", True, None)


def test_atomic_rename_from_inside_and_outside_is_seen(
    watcher: MarkerWatcher, events: queue.Queue[object], tmp_path: Path
) -> None:
    write_atomically(watcher.marker_path("inside"), '{"status": "done"}')
    assert wait_seen(events, "inside").path == watcher.marker_path("inside")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write_atomically(watcher.marker_path("outside"), '{"status": "done"}', tmp_dir=outside)
    assert wait_seen(events, "outside").path == watcher.marker_path("outside")


def test_other_files_are_ignored(watcher: MarkerWatcher, events: queue.Queue[object]) -> None:
    (watcher.directory / "notes.txt").write_text("x")
    (watcher.directory / ".hidden.json").write_text("x")
    (watcher.directory / ".json").write_text("x")
    (watcher.directory / "sub").mkdir()
    (watcher.directory / "sub" / "nested.json").write_text("x")
    watcher.marker_path("real").write_text("")
    # events arrive in order, so anything for the files above would come first
    assert wait_seen(events, "real").task_id == "real"


def test_fake_agent_marker_is_seen(watcher: MarkerWatcher, events: queue.Queue[object]) -> None:
    env = dict(os.environ, COORDINATOR_MARKER=str(watcher.marker_path("agent")))
    subprocess.run(
        [sys.executable, str(AGENTS / "sleep_then_mark.py"), "--summary", "did it"],
        env=env,
        check=True,
        timeout=TIMEOUT,
    )
    seen = wait_seen(events, "agent")
    assert read_marker(seen.path) == MarkerContent("done", "did it", True, None)


@pytest.mark.parametrize("polling", [False, True], ids=["native", "polling"])
def test_markers_present_before_start_are_reported(
    tmp_path: Path, events: queue.Queue[object], polling: bool
) -> None:
    directory = tmp_path / "markers"
    directory.mkdir()
    (directory / "a.json").write_text("")
    (directory / "b.json").write_text('{"status": "failed"}')
    (directory / "readme.txt").write_text("")
    (directory / ".c.json.tmp").write_text("")
    with MarkerWatcher(directory, events, polling=polling) as w:
        assert w.polling is polling
        assert sorted(e.task_id for e in drain(events)) == ["a", "b"]
        w.marker_path("c").write_text("")
        assert wait_seen(events, "c").task_id == "c"


def test_stop_joins_and_is_idempotent(tmp_path: Path, events: queue.Queue[object]) -> None:
    w = MarkerWatcher(tmp_path / "m", events)
    w.stop()  # before start: nothing to do
    w.start()
    w.start()  # a second start is a no-op
    observer = w._observer
    assert observer is not None and observer.is_alive()
    w.stop()
    assert not observer.is_alive()
    w.stop()


def test_detection_latency(tmp_path: Path, events: queue.Queue[object]) -> None:
    latencies: list[float] = []
    with MarkerWatcher(tmp_path / "markers", events) as w:
        for i in range(20):
            start = time.monotonic()
            write_atomically(w.marker_path(f"t{i}"), '{"status": "done"}')
            wait_seen(events, f"t{i}")
            latencies.append(time.monotonic() - start)
            drain(events)
    median = statistics.median(latencies)
    print(
        f"\nmarker detection latency over 20 writes: median {median * 1000:.2f} ms, "
        f"max {max(latencies) * 1000:.2f} ms"
    )
    assert median < 1.0


# --- reading -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", MarkerContent("done", "", True, None)),
        ("  \n", MarkerContent("done", "", True, None)),
        ('{"status": "done"}', MarkerContent("done", "", True, None)),
        ('{"status": "done", "summary": "ok"}', MarkerContent("done", "ok", True, None)),
        ('{"status": "failed", "summary": "no"}', MarkerContent("failed", "no", True, None)),
        ('{"status": " Done "}', MarkerContent("done", "", True, None)),
        ('{"status": "done", "summary": null, "x": [1]}', MarkerContent("done", "", True, None)),
        ('\ufeff{"status": "failed"}', MarkerContent("failed", "", True, None)),
    ],
)
def test_read_valid_markers(tmp_path: Path, text: str, expected: MarkerContent) -> None:
    path = tmp_path / "t.json"
    path.write_text(text, encoding="utf-8")
    assert read_marker(path) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("done", "not JSON"),
        ('{"status": "do', "not JSON"),  # seen mid-write
        ('["done"]', "JSON object, not list"),
        ("{}", '"status" must be'),
        ('{"status": "ok"}', '"status" must be'),
        ('{"status": true}', '"status" must be'),
        ('{"status": "done", "summary": 3}', '"summary" must be a string'),
    ],
)
def test_read_invalid_markers(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(text)
    content = read_marker(path)
    assert content is not None
    assert not content.valid and content.status == "failed"
    assert content.error is not None and error in content.error


def test_read_absent_unreadable_binary_and_huge(tmp_path: Path) -> None:
    assert read_marker(tmp_path / "absent.json") is None
    (tmp_path / "dir.json").mkdir()
    directory = read_marker(tmp_path / "dir.json")
    assert directory is not None and not directory.valid
    assert "cannot read marker" in (directory.error or "")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    binary = read_marker(tmp_path / "bin.json")
    assert binary is not None and binary.error == "marker is not UTF-8 text"
    (tmp_path / "huge.json").write_bytes(b" " * (MAX_MARKER_BYTES + 1))
    huge = read_marker(tmp_path / "huge.json")
    assert huge is not None and not huge.valid and "larger" in (huge.error or "")
