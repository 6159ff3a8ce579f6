"""The ready queue of the scheduling policy: ready tasks, best first, without rescanning.

Split from ``coordinator.core.policy`` (which owns every decision) because it is a data
structure with one job: answering "the best task that may start now" in O(lanes + log ready).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping

PriorityKey = tuple[int, float, float, int, str]

Lane = tuple[str, bool]  # (agent type, exclusive footprint)


class ReadyQueue:
    """Ready tasks, best first, in one heap per lane, with footprint-blocked ones parked aside.

    Scanning every ready task on every decision would cost O(ready) per finish, which is quadratic
    over a 10,000-task run when one agent type sits at its cap or many tasks share files. So a
    lane that cannot start anything (its agent type at its cap, or exclusive tasks while anything
    is reserved) is skipped as a whole, and a task whose footprint clashes with a reservation is
    parked on that reservation and only looked at again once it is released. A decision then
    costs O(lanes + log ready) per task started or parked.
    """

    def __init__(self, keys: Mapping[str, PriorityKey], lane: Mapping[str, Lane]) -> None:
        self._keys = keys
        self._lane = lane
        self._heaps: dict[Lane, list[tuple[PriorityKey, str]]] = {
            name: [] for name in sorted(set(lane.values()))
        }
        self._parked: dict[str, list[str]] = {}
        self.members: set[str] = set()  # every ready task, queued or parked

    def add(self, task_id: str) -> None:
        self.members.add(task_id)
        heapq.heappush(self._heaps[self._lane[task_id]], (self._keys[task_id], task_id))

    def clear(self) -> None:
        self.members.clear()
        self._parked.clear()
        for heap in self._heaps.values():
            heap.clear()

    def pop_best(self, open_lane: Callable[[Lane], bool]) -> str | None:
        """Remove and return the best queued task among the lanes that may start one, if any."""
        best: list[tuple[PriorityKey, str]] | None = None
        for lane, heap in self._heaps.items():
            if heap and open_lane(lane) and (best is None or heap[0] < best[0]):
                best = heap
        if best is None:
            return None
        task_id = heapq.heappop(best)[1]
        self.members.discard(task_id)
        return task_id

    def rekey(self) -> None:
        """The keys changed: put every queue back in order (parked tasks are keyed on return)."""
        for heap in self._heaps.values():
            heap[:] = [(self._keys[task_id], task_id) for _, task_id in heap]
            heapq.heapify(heap)

    def park(self, task_id: str, holder: str) -> None:
        """Keep a ready task aside until ``holder``'s reservation ends."""
        self.members.add(task_id)
        self._parked.setdefault(holder, []).append(task_id)

    def unpark(self, holder: str) -> None:
        for task_id in self._parked.pop(holder, ()):
            self.add(task_id)
