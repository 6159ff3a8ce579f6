"""``[notify] command``: tell a command about failures and the end of a run, never waiting on it.

Each notice is one JSON object on the command's stdin (``{"event": "task_failed", ...}``). The
commands run one after another on a thread of their own, in the order the notices were sent,
each with a timeout after which its whole process group is killed; a command that fails, hangs
or cannot start is reported through ``on_problem`` and the run goes on as if nothing happened.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from coordinator.io import processes
from coordinator.io.store import iso_ms

_DONE = object()


class Notifier:
    """One run's notify command. ``send`` returns at once; ``close`` waits for what was sent."""

    def __init__(
        self, argv: Sequence[str], *, cwd: Path, timeout: float, events: Collection[str],
        on_problem: Callable[[str], None],
    ) -> None:  # fmt: skip
        self.argv = list(argv)
        self.cwd = cwd
        self.timeout = timeout
        self.events = frozenset(events)
        self.on_problem = on_problem
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.sent = 0

    def send(self, kind: str, payload: Mapping[str, Any]) -> None:
        """Queue one notice (``event`` and ``at`` are added); kinds not configured are dropped."""
        if kind not in self.events:
            return
        record = {"event": kind, "at": iso_ms(time.time()), **payload}
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
            self._thread.start()
        self.sent += 1
        self._queue.put(record)

    def close(self) -> None:
        """Wait for every queued notice: each is bounded by the timeout, so this is too."""
        if self._thread is None:
            return
        self._queue.put(_DONE)
        self._thread.join()

    def _run(self) -> None:
        while (record := self._queue.get()) is not _DONE:
            assert isinstance(record, dict)
            data = json.dumps(record, default=str).encode()
            result = processes.run(self.argv, input=data, cwd=self.cwd, timeout=self.timeout)
            if not result.ok:
                self.on_problem(f"notify command for {record['event']}: {result.reason()}")
