"""What each agent's process tree uses: peak memory and CPU time, sampled off the engine's loop.

One sampler thread per run looks at every watched agent's tree every ``interval`` seconds:
the sum of RSS over the tree at that moment (its peak is the task's peak memory) and the sum of
user + system CPU time, waited-for children included (its maximum is the CPU time so far). A
process that lived between two samples is still counted: its CPU time reaches its parent's
``children_*`` times when the parent waits for it, and the agent's own ``wait4`` rusage (taken
when the coordinator reaps it, see ``coordinator.io.agents``) covers the whole tree it waited
for. Samples never signal or reap anything.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import psutil

from coordinator.core.usage import Resources
from coordinator.io.procs import same_process

INTERVAL = 0.5  # seconds between samples: a load of a few /proc reads per agent


@dataclass
class _Watched:
    pid: int
    create_time: float | None
    peak_rss: int = 0
    cpu: float = 0.0
    sampled: bool = False


def tree_usage(pid: int, create_time: float | None) -> tuple[int, float] | None:
    """(RSS summed over the tree, CPU seconds of the tree) now, or None if ``pid`` is gone."""
    try:
        root = psutil.Process(pid)
        if not same_process(root, create_time):
            return None
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    rss, cpu = 0, 0.0
    for proc in members:
        with contextlib.suppress(psutil.Error), proc.oneshot():
            rss += proc.memory_info().rss
            times = proc.cpu_times()
            cpu += times.user + times.system + times.children_user + times.children_system
    return rss, cpu


class ResourceMeter:
    """Watches agents' trees from a thread of its own; every method is thread-safe."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._watched: dict[str, _Watched] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, key: str, pid: int | None, create_time: float | None) -> None:
        if pid is None:
            return
        with self._lock:
            self._watched[key] = _Watched(pid, create_time)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="resources", daemon=True)
                self._thread.start()

    def current(self, key: str) -> Resources | None:
        """What the tree used so far, for the live view; None before its first sample."""
        with self._lock:
            seen = self._watched.get(key)
            if seen is None or not seen.sampled:
                return None
            return Resources(seen.peak_rss, seen.cpu)

    def finish(
        self, key: str, *, cpu_seconds: float | None = None, max_rss: int | None = None
    ) -> Resources:
        """Stop watching; the samples combined with what ``wait4`` said about the agent (its
        CPU time with its waited-for children's, and the largest single process's RSS)."""
        with self._lock:
            seen = self._watched.pop(key, None)
        peak = max(seen.peak_rss if seen else 0, max_rss or 0)
        cpu = max(seen.cpu if seen else 0.0, cpu_seconds or 0.0)
        known = (seen is not None and seen.sampled) or cpu_seconds is not None
        return Resources(peak or None, cpu if known else None)

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    def sample(self) -> None:
        """One look at every watched tree (the thread calls it; tests may too)."""
        with self._lock:
            watched = list(self._watched.items())
        for key, seen in watched:
            now = tree_usage(seen.pid, seen.create_time)
            if now is None:
                continue
            with self._lock:
                if self._watched.get(key) is seen:
                    seen.peak_rss = max(seen.peak_rss, now[0])
                    seen.cpu = max(seen.cpu, now[1])
                    seen.sampled = True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()
