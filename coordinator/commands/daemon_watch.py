"""``coordinator daemon`` without ``--once``: stay up and run a cycle whenever the specs change.

Split from ``coordinator.commands.daemon`` (one cycle, its record and notification): this is
the long-lived part, watching the specs directory and the config, debouncing changes and
turning SIGINT/SIGTERM into a clean stop of the cycle in progress.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import FrameType

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from coordinator.commands.daemon import cycle
from coordinator.engine.runner import RunResult
from coordinator.errors import EXIT_OK, CoordinatorError, InputError, Problem
from coordinator.io.gitrepo import GitRepo
from coordinator.io.lock import RepoLock
from coordinator.io.runfiles import lock_path
from coordinator.project import CONFIG_FILE, read_config
from coordinator.ui.display import Reporter, RunEvent, RunSummary, TaskRow

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
WAKE_EVERY = 0.2  # seconds, at most, that the daemon waits without looking for a stop signal


# ------------------------------------------------------------------------------ watch mode
class _SpecsChanged(FileSystemEventHandler):
    """Only enqueues: the daemon loop debounces and decides.

    ``names`` limits events to those files (the config files in the repository root, which is
    watched without recursion); ``None`` takes every file under the specs directory.
    """

    def __init__(self, events: queue.SimpleQueue[str], names: Iterable[str] | None = None) -> None:
        self.events = events
        self.names = None if names is None else frozenset(names)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in {"created", "modified", "moved", "deleted"}:
            return
        if self.names is not None:
            paths = [event.src_path, getattr(event, "dest_path", "")]
            if not any(os.path.basename(os.fsdecode(p)) in self.names for p in paths if p):
                return
        self.events.put("changed")


class _StopForwarder:
    """A reporter wrapper that hands a stop request to the engine once it is listening.

    The engine installs its own SIGINT/SIGTERM handlers while its loop runs, so a signal that
    reached the daemon's handler just before (while the cycle read specs or prepared the
    target) would be lost and the whole run would go on. ``update`` is first called inside
    the engine's handlers: re-raising the signal there makes the engine stop as on Ctrl-C.
    """

    def __init__(self, inner: Reporter, stop_requested: Callable[[], bool]) -> None:
        self.inner = inner
        self.stop_requested = stop_requested
        self.forwarded = False

    def start(self, run_id: str, target: str, total: int) -> None:
        self.inner.start(run_id, target, total)

    def event(self, event: RunEvent) -> None:
        self.inner.event(event)

    def update(self, rows: Sequence[TaskRow]) -> None:
        self.inner.update(rows)
        if not self.forwarded and self.stop_requested():
            self.forwarded = True
            signal.raise_signal(signal.SIGTERM)

    def summary(self, summary: RunSummary) -> None:
        self.inner.summary(summary)

    def close(self) -> None:
        self.inner.close()


class _Watch:
    """The state of ``coordinator daemon`` that signal handlers and the observer touch."""

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.stopping = False
        # Set only by our own handler, i.e. by a signal the engine did not see: only such a
        # stop is forwarded to the engine (re-raising one it saw would make it a hard stop).
        self.unseen_stop = False
        # Signals that arrive while the engine's own handlers are installed never reach ours;
        # the wakeup fd sees every signal whatever Python handler runs, so a SIGTERM that
        # stopped a run also stops the daemon once that cycle is recorded.
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        self.unseen_stop = True
        self.events.put("stop")

    def signalled(self) -> bool:
        """True once SIGINT/SIGTERM arrived, also while the engine was handling signals."""
        with contextlib.suppress(BlockingIOError):
            while data := os.read(self.wake_r, 512):
                if any(byte in {int(s) for s in _STOP_SIGNALS} for byte in data):
                    self.stopping = True
        return self.stopping

    def wait_for_change(self, debounce: float) -> bool:
        """Block until the specs changed and then stayed quiet ``debounce`` seconds; False: stop.

        Changes made during a cycle are already queued, so they start the next cycle at once.
        """
        if self._next(math.inf) == "stop":
            return False
        while True:
            event = self._next(debounce)
            if event is None:
                return True
            if event == "stop":
                return False

    def _next(self, timeout: float) -> str | None:
        """The next event within ``timeout`` seconds (None: none came; "stop": a signal).

        The wait is cut every ``WAKE_EVERY`` seconds: a signal the kernel hands to another
        thread (the observer's) only writes the wakeup fd and runs our Python handler once the
        main thread executes bytecode again, so a wait without end would never see it.
        """
        deadline = time.monotonic() + timeout
        while not self.signalled():
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                return self.events.get(timeout=min(left, WAKE_EVERY))
            except queue.Empty:
                continue
        return "stop"

    def close(self) -> None:
        os.close(self.wake_r)
        os.close(self.wake_w)


def watch(
    path: Path | None,
    make_reporter: Callable[[], Reporter],
    *,
    on_cycle: Callable[[RunResult], None] | None = None,
) -> int:
    """Stay up: a cycle at start, then one after each debounced change, until SIGTERM/Ctrl-C.

    The repository lock is held for the daemon's whole life (cron cycles and ``run`` exit 75
    meanwhile). A cycle that fails on bad input (a spec saved half-way, a typo) is reported
    and recorded, and the daemon waits for the next change instead of dying. A stop signal
    during a cycle stops that run as Ctrl-C stops ``run`` (agents stopped, work kept on
    branches); the daemon then exits 0, having stopped as asked.
    """
    state = _Watch()
    with contextlib.ExitStack() as cleanup:
        # Handlers first: a stop that comes while the daemon starts up is a stop, not a crash.
        previous_wakeup = signal.set_wakeup_fd(state.wake_w, warn_on_full_buffer=False)
        cleanup.callback(state.close)
        cleanup.callback(signal.set_wakeup_fd, previous_wakeup)
        for sig in _STOP_SIGNALS:
            cleanup.callback(signal.signal, sig, signal.signal(sig, state.on_signal))
        root, git_dir, specs_dir = _watched(path)
        lock = RepoLock(lock_path(git_dir), "daemon").acquire()
        cleanup.callback(lock.release)
        observer = Observer()
        observer.schedule(_SpecsChanged(state.events), str(specs_dir), recursive=True)
        names = (CONFIG_FILE, "pyproject.toml")
        observer.schedule(_SpecsChanged(state.events, names), str(root), recursive=False)
        observer.start()
        cleanup.callback(observer.join)
        cleanup.callback(observer.stop)
        while not state.signalled():
            reporter = make_reporter()
            try:
                forwarder = _StopForwarder(reporter, lambda: state.unseen_stop)
                result = cycle(root, forwarder, lock=lock)
            except CoordinatorError as exc:
                print(f"error: {exc}", file=sys.stderr, flush=True)
                result = RunResult(exc.exit_code, str(exc))
            finally:
                reporter.close()
            if result.message:
                print(result.message, flush=True)
            if on_cycle:
                on_cycle(result)
            if not state.wait_for_change(_debounce(root)):
                break
    return EXIT_OK


def _watched(path: Path | None) -> tuple[Path, Path, Path]:
    """The repository root, git directory and specs directory (which must exist)."""
    with GitRepo.discover(path or Path.cwd()) as repo:
        root, git_dir = repo.root, repo.git_dir
    config, source = read_config(root)
    specs_dir = root / config.specs
    if not specs_dir.is_dir():
        raise InputError(
            Problem(
                config.specs,
                None,
                "the specs directory does not exist",
                f"create it, run `coordinator init`, or set specs in {source}",
            )
        )
    return root, git_dir, specs_dir


def _debounce(root: Path) -> float:
    """The configured quiet time, read again each time (the config may have changed)."""
    try:
        config, _ = read_config(root)
    except CoordinatorError:
        return 2.0
    return config.daemon.debounce
