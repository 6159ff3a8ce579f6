"""Completion markers: how an agent says "done" (or "failed") before or instead of exiting.

An agent writes ``<markers dir>/<task id>.json`` (the path is in ``{marker}`` and
``COORDINATOR_MARKER``). One watchdog observer watches the run's markers directory and puts a
``MarkerSeen`` on the engine's queue for every create, modify or rename-into event; it never
reads the file, because a writer may be halfway through it. The engine calls ``read_marker`` on
each event and, if the content is not yet valid JSON, simply waits for the next event: the
last write of a file always produces one.

``MarkerSeen`` is a hint, not a fact: one write yields several events and a marker present at
``start`` may be reported twice. Consumers must be idempotent.
"""

from __future__ import annotations

import json
import os
import queue
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from watchdog.events import (
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from coordinator.core.usage import Usage, parse_usage

SUFFIX = ".json"
MAX_MARKER_BYTES = 1024 * 1024  # a marker is a status and a summary, not a report
POLL_INTERVAL = 0.25  # only used when inotify is unavailable or exhausted
_KINDS: list[type[FileSystemEvent]] = [FileCreatedEvent, FileModifiedEvent, FileMovedEvent]


@dataclass(frozen=True)
class MarkerSeen:
    """Something happened to ``path``, the marker of ``task_id``: read it again."""

    task_id: str
    path: Path
    at: float


@dataclass(frozen=True)
class MarkerContent:
    """What a marker says. ``valid=False`` carries ``error`` and ``status="failed"``; whether
    that fails the task or waits for a rewrite is the caller's decision."""

    status: Literal["done", "failed"]
    summary: str
    valid: bool
    error: str | None
    files: tuple[str, ...] = ()  # a resolver's declared extra paths (optional "files" list)
    usage: Usage | None = None  # ``"usage"``: tokens and cost the agent reports, any subset
    usage_error: str | None = None  # a ``"usage"`` that could not be read (the marker counts)


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: MarkerWatcher) -> None:
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Runs on watchdog's dispatcher thread: map the name and enqueue, nothing more.
        if isinstance(event, FileMovedEvent):
            path = event.dest_path
        elif isinstance(event, FileCreatedEvent | FileModifiedEvent):
            path = event.src_path
        else:
            return
        self._watcher._report(os.fsdecode(path))


class MarkerWatcher:
    """One observer for the whole run, watching one directory (not recursively).

    Writers should write atomically (a temporary name that does not end in ``.json``, then
    ``os.replace``); a direct write works too but is seen first as an empty file, which reads
    as "done". Names starting with a dot are ignored, so ``.<task>.json`` is a safe temp name.
    """

    def __init__(self, directory: Path, events: queue.Queue[object], polling: bool = False) -> None:
        self.directory = Path(directory)
        self._events = events
        self._polling = polling
        self._observer: BaseObserver | None = None
        self._lock = threading.Lock()
        self._handler = _Handler(self)
        self._own: dict[str, Path] = {}  # task id -> a directory only its marker may be in

    def marker_path(self, task_id: str) -> Path:
        return self._own.get(task_id, self.directory) / f"{task_id}{SUFFIX}"

    def own_directory(self, task_id: str, directory: Path) -> Path:
        """Give ``task_id`` a marker directory of its own (a sandboxed agent can write only
        there, not beside other tasks' markers) and watch it; returns the marker's path."""
        directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._own[task_id] = directory
            if self._observer is not None:
                self._observer.schedule(self._handler, str(directory), recursive=False,
                                        event_filter=_KINDS)  # fmt: skip
        return self.marker_path(task_id)

    def task_of(self, name: str) -> str | None:
        """The task id a file name in the directory stands for, or None if it is not a marker."""
        if not name.endswith(SUFFIX) or name.startswith(".") or len(name) == len(SUFFIX):
            return None
        return name[: -len(SUFFIX)]

    def _report(self, path: str) -> None:
        head, name = os.path.split(path)
        task_id = self.task_of(name)
        if task_id is None:
            return
        where = os.path.normpath(self._own.get(task_id, self.directory))
        if os.path.normpath(head) != where:
            return  # not this task's marker directory: a marker written elsewhere is no marker
        self._events.put(MarkerSeen(task_id, Path(where) / name, time.time()))

    def _make_observer(self) -> BaseObserver:
        handler = self._handler
        kinds = _KINDS
        if not self._polling:
            observer: BaseObserver = Observer()
            observer.schedule(handler, str(self.directory), recursive=False, event_filter=kinds)
            try:
                observer.start()
            except OSError:  # inotify instances or watches exhausted: fall back to polling
                self._polling = True
            else:
                return observer
        observer = PollingObserver(timeout=POLL_INTERVAL)
        observer.schedule(handler, str(self.directory), recursive=False, event_filter=kinds)
        observer.start()
        return observer

    @property
    def polling(self) -> bool:
        """Whether the watcher polls instead of using the platform's notifications."""
        return self._polling

    def start(self) -> None:
        """Start watching (creating the directory if needed), then report markers already there.

        The watch is established before the scan, so a marker written in between is reported
        at least once (possibly twice), never missed.
        """
        with self._lock:
            if self._observer is not None:
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            self._observer = self._make_observer()
        with os.scandir(self.directory) as entries:
            existing = sorted(e.name for e in entries if e.is_file())
        for name in existing:
            self._report(os.path.join(self.directory, name))

    def stop(self) -> None:
        """Stop the observer and join its threads. Idempotent."""
        with self._lock:
            observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join()

    def __enter__(self) -> MarkerWatcher:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _Invalid(Exception):
    """A marker that is not (yet) what it should be; the message becomes ``error``."""


def _parse(raw: bytes) -> MarkerContent:
    if len(raw) > MAX_MARKER_BYTES:
        raise _Invalid(f"marker is larger than {MAX_MARKER_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _Invalid("marker is not UTF-8 text") from None
    if not text.strip():
        return MarkerContent("done", "", True, None)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Invalid(f"marker is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _Invalid(f"marker must be a JSON object, not {type(data).__name__}")
    status = data.get("status")
    if not isinstance(status, str) or status.strip().lower() not in ("done", "failed"):
        raise _Invalid(f'marker "status" must be "done" or "failed", not {status!r}')
    summary = data.get("summary")
    summary = "" if summary is None else summary
    if not isinstance(summary, str):
        raise _Invalid(f'marker "summary" must be a string, not {type(summary).__name__}')
    files = data.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise _Invalid('marker "files" must be a list of repository-relative paths')
    final: Literal["done", "failed"] = "done" if status.strip().lower() == "done" else "failed"
    usage: Usage | None = None
    usage_error: str | None = None
    if data.get("usage") is not None:
        try:
            usage = parse_usage(data["usage"])
        except ValueError as exc:  # a bad count must not undo the agent's "done"
            usage_error = str(exc)
    return MarkerContent(final, summary, True, None, tuple(files), usage, usage_error)


def read_marker(path: Path) -> MarkerContent | None:
    """Parse a marker: None if absent; empty (or whitespace) means done; otherwise a JSON
    object ``{"status": "done"|"failed", "summary": "...", "usage": {...}}`` (summary and
    usage optional, other keys ignored, status case-insensitive). Anything else is returned
    with ``valid=False``, which may just mean the writer is not finished yet.

    Only a regular file is read, never through a symlink and without waiting: an agent's
    marker that is a FIFO must not block the engine, nor a link make it read another file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a symlink, unreadable permissions, ...
        return MarkerContent("failed", "", False, f"cannot read marker: {exc.strerror or exc}")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return MarkerContent("failed", "", False, "cannot read marker: not a regular file")
    with os.fdopen(fd, "rb") as fh:
        try:
            raw = fh.read(MAX_MARKER_BYTES + 1)
        except OSError as exc:
            return MarkerContent("failed", "", False, f"cannot read marker: {exc.strerror}")
    try:
        return _parse(raw)
    except _Invalid as exc:
        return MarkerContent("failed", "", False, str(exc))
