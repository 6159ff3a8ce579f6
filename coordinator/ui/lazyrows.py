"""Rows of the live view that are computed only when a reporter shows them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from coordinator.ui.display import TaskRow


class LazyRows(Sequence[TaskRow]):
    """The live view's rows, computed on first use: reporters that show no table (plain lines,
    JSON, the daemon) never pay for them. Computing every task's row (and why each pending
    task waits) costs O(tasks), and the loop updates the view after every event, which made
    the coordinator's own time per task grow with the number of tasks."""

    def __init__(self, compute: Callable[[], Sequence[TaskRow]]) -> None:
        self._compute = compute
        self._rows: Sequence[TaskRow] | None = None

    def _all(self) -> Sequence[TaskRow]:
        if self._rows is None:
            self._rows = self._compute()
        return self._rows

    def __len__(self) -> int:
        return len(self._all())

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]
