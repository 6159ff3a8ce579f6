"""How a run is stopped: Ctrl-C or SIGTERM in a terminal, a ``StopRequest`` from Python.

Signal handlers can only be installed by the main thread, so a run started from another thread
(an application embedding ``coordinator``, a test, a service) would otherwise have no way to be
stopped cleanly. A ``StopRequest`` is handed to ``runner.run``; ``stop()`` may come before the
engine exists, while it runs, from any thread, and more than once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


class StopRequest:
    """``stop()`` is the first Ctrl-C (start nothing more, stop agents, keep their work);
    ``stop(hard=True)`` the second (kill every agent at once). Either leaves a resumable state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sink: Callable[[bool], None] | None = None
        self._pending: bool | None = None  # None: no stop asked for yet; else "hard"

    def stop(self, *, hard: bool = False) -> None:
        with self._lock:
            self._pending = hard or bool(self._pending)
            sink = self._sink
        if sink is not None:
            sink(hard)

    def attach(self, sink: Callable[[bool], None]) -> None:
        """Route stops to ``sink(hard)`` (the engine's), replaying one asked for before."""
        with self._lock:
            self._sink = sink
            pending = self._pending
        if pending is not None:
            sink(pending)

    def detach(self) -> None:
        with self._lock:
            self._sink = None


@contextmanager
def stop_on_signals(stop: Callable[[bool], None]) -> Iterator[None]:
    """While the block runs, the first SIGINT/SIGTERM calls ``stop(False)``, later ones
    ``stop(True)``; the previous handlers come back afterwards.

    Only the main thread can take signals: elsewhere this does nothing, and the run is stopped
    through its ``StopRequest`` instead.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    count = 0

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal count
        count += 1
        stop(count > 1)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
