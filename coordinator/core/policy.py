"""The scheduling policy: one state machine shared by ``plan`` (simulation) and ``run`` (engine).

Keeping the decisions here, free of clocks, processes and git, is what makes the simulated
schedule that ``plan`` prints the schedule ``run`` would follow with the same finish order, and
what lets property tests drive it through thousands of random event sequences.

The rules: a task is *ready* when it is PENDING and all its dependencies are MERGED (not merely
DONE: it must start from a head that contains their work). Ready tasks are considered in
``priority_key`` order, greedily, skipping any that cannot start now, so a blocked urgent task
never idles slots that a lesser one could use. A task starts when a global slot and a slot of
its agent type are free and its footprint overlaps no *reserved* footprint; a footprint stays
reserved from start until the branch is merged or given up, because a DONE branch that has not
landed yet still conflicts with anything touching the same files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from coordinator.core.claims import SharedClaims
from coordinator.core.graph import dependents_of
from coordinator.core.models import TaskState
from coordinator.core.plan import Plan
from coordinator.core.readyqueue import Lane, PriorityKey, ReadyQueue

_GIVEN_UP = frozenset({TaskState.CONFLICT, TaskState.FAILED, TaskState.CANCELLED})


def priority_key(plan: Plan, task_id: str) -> PriorityKey:
    """Sort key among ready tasks: lower starts first.

    An explicit ``plan.rank`` wins (ranked tasks before unranked ones). Otherwise higher
    ``priority`` first, then the most remaining critical-path work first (the longest tail
    gates the makespan), then spec order and finally the id, so the order is total and
    deterministic.
    """
    spec = plan.task(task_id).spec
    rank = plan.rank.get(task_id)
    if rank is not None:
        return (0, float(rank), 0.0, spec.order, task_id)
    return (1, float(-spec.priority), -plan.remaining.get(task_id, 0.0), spec.order, task_id)


# The plans ``coordinator.core.ordering`` simulates by the dozen differ only in ``rank`` (and
# it also simulates their reversal), so what depends only on the structure is remembered for the
# last two structures seen, keyed by the identity of the very mapping it came from plus the ids.
# A plan is read-only once built, so the same mapping object and ids give the same result; the
# memo keeps a reference to the mapping, so its identity cannot pass to another object meanwhile.
# Each memo is a tuple rebound whole, so a reader in another thread sees an old or a new one.
_MEMO_SIZE = 2
_OverlapMemo = tuple[Mapping[str, frozenset[str]], tuple[str, ...], SharedClaims]
_overlap_memo: tuple[_OverlapMemo, ...] = ()
_Edges = dict[str, tuple[str, ...]]
_EdgeMemo = tuple[Mapping[str, tuple[str, ...]], tuple[str, ...], tuple[_Edges, _Edges]]
_edge_memo: tuple[_EdgeMemo, ...] = ()


def shared_claims(plan: Plan) -> SharedClaims:
    """``plan.overlaps`` as ``SharedClaims``: as it is when the planner built it, else converted.

    A hand-built plan may give a plain ``task -> tasks`` mapping (noted on either side); its
    conversion is remembered for the last two mappings seen, as the plans ``ordering`` simulates
    share one. Tasks the claims do not know overlap nothing.
    """
    global _overlap_memo  # noqa: PLW0603 - a process-wide memo, rebound whole
    if isinstance(plan.overlaps, SharedClaims):
        return plan.overlaps
    ids = plan.ids
    for overlaps, memo_ids, claims in _overlap_memo:
        if overlaps is plan.overlaps and memo_ids == ids:
            return claims
    claims = SharedClaims.from_mapping(ids, plan.overlaps)
    _overlap_memo = ((plan.overlaps, ids, claims), *_overlap_memo[: _MEMO_SIZE - 1])
    return claims


def _edges(plan: Plan, ids: tuple[str, ...]) -> tuple[_Edges, _Edges]:
    """(dependencies without repeats or unknown ids, dependents), remembered like the claims."""
    global _edge_memo  # noqa: PLW0603 - a process-wide memo, rebound whole
    for deps, memo_ids, edges in _edge_memo:
        if deps is plan.deps and memo_ids == ids:
            return edges
    known = set(ids)
    clean = {t: tuple(d for d in dict.fromkeys(plan.deps.get(t, ())) if d in known) for t in ids}
    edges = (clean, dependents_of(ids, plan.deps))
    _edge_memo = ((plan.deps, ids, edges), *_edge_memo[: _MEMO_SIZE - 1])
    return edges


class Scheduler:
    """Decides which tasks start, and tracks every task's state through a run.

    Illegal transitions (finishing a task that is not running, merging one that is not DONE...)
    raise ``ValueError``: they are bugs in the caller, never user errors.
    """

    def __init__(
        self,
        plan: Plan,
        *,
        instances: int,
        caps: Mapping[str, int],
        merged: Iterable[str] = (),
    ) -> None:
        if instances < 1:
            raise ValueError(f"instances must be at least 1, not {instances}")
        self._plan = plan
        self._instances = instances
        ids = plan.ids
        self._index = {task_id: i for i, task_id in enumerate(ids)}
        self._agent = {t.id: t.agent for t in plan.tasks}
        self._caps = self._agent_caps(caps)
        self._exclusive = frozenset(t.id for t in plan.tasks if t.footprint.exclusive)
        self._claims = shared_claims(plan)
        self._holders: dict[int, set[str]] = {}  # key -> reserved tasks owning it
        self._deps, self._dependents = _edges(plan, ids)
        landed = {task_id for task_id in merged if task_id in self._index}
        self._state = {t: TaskState.MERGED if t in landed else TaskState.PENDING for t in ids}
        self._open = len(ids) - len(landed)
        self._attempts = dict.fromkeys(ids, 1)
        self._skip_cause: dict[str, str] = {}
        self._running: set[str] = set()
        self._done: set[str] = set()
        self._reserved: set[str] = set()
        self._reserved_exclusive: set[str] = set()
        self._per_agent: Counter[str] = Counter()
        self._admission: str | None = None
        self._cancelled = False
        self._keys = {t: priority_key(plan, t) for t in ids}
        self._unmerged = (
            {t: sum(1 for d in self._deps[t] if d not in landed) for t in ids}
            if landed
            else {t: len(self._deps[t]) for t in ids}
        )
        lanes = {t: (self._agent[t], t in self._exclusive) for t in ids}
        self._ready = ReadyQueue(self._keys, lanes)
        for task_id in ids:
            if self._state[task_id] == TaskState.PENDING and self._unmerged[task_id] == 0:
                self._ready.add(task_id)

    def _agent_caps(self, caps: Mapping[str, int]) -> dict[str, int]:
        """Per-type caps, clamped to the global cap; a type missing from ``caps`` gets it all."""
        result = {}
        for agent in set(self._agent.values()):
            cap = caps.get(agent, self._instances)
            if cap < 1:
                raise ValueError(f"cap of agent type {agent} must be at least 1, not {cap}")
            result[agent] = min(cap, self._instances)
        return result

    # ------------------------------------------------------------------ queries
    @property
    def state(self) -> Mapping[str, TaskState]:
        """A live read-only view: callers observe, only transitions change it."""
        return MappingProxyType(self._state)

    def attempt(self, task_id: str) -> int:
        """1 for the first run of a task, +1 for each ``retry``."""
        self._known(task_id)
        return self._attempts[task_id]

    def done(self) -> bool:
        """Every task is terminal: nothing more will ever start or land."""
        return self._open == 0

    def running(self) -> frozenset[str]:
        return frozenset(self._running)

    def pending_merge(self) -> list[str]:
        """DONE tasks in plan (topological) order, the order the merger should land them."""
        return sorted(self._done, key=self._index.__getitem__)

    def skipped_because(self, task_id: str) -> str | None:
        """The task whose failure or conflict caused this task to be skipped, if it was."""
        self._known(task_id)
        return self._skip_cause.get(task_id)

    def waiting_reasons(self) -> dict[str, str]:
        """Why each PENDING task is not running, for the live display and ``status``."""
        reasons = {}
        for task_id, state in self._state.items():
            if state == TaskState.PENDING:
                reasons[task_id] = self._reason(task_id)
        return reasons

    def _reason(self, task_id: str) -> str:
        if task_id not in self._ready.members:
            unmerged = (d for d in self._deps[task_id] if self._state[d] != TaskState.MERGED)
            return f"waiting for dependency {next(unmerged, '?')}"
        blocker = self._blocker(task_id)
        if blocker is not None:
            return blocker
        if self._admission is not None:
            return f"admission: {self._admission}"
        return "ready to start"

    def _blocker(self, task_id: str) -> str | None:
        """Why a ready task cannot start right now, or None if it can."""
        holder = self._clash(task_id)
        if holder is not None:
            return self._clash_reason(task_id, holder)
        agent = self._agent[task_id]
        cap = self._caps[agent]
        # A cap equal to the global one is reached only when every slot is busy: say that.
        if cap < self._instances and self._per_agent[agent] >= cap:
            return f"agent type {agent} at cap {cap}"
        if len(self._running) >= self._instances:
            return f"all {self._instances} slots busy"
        return None

    def _clash(self, task_id: str) -> str | None:
        """The earliest reserved task whose footprint keeps ``task_id`` from starting, if any."""
        if not self._reserved:
            return None
        if task_id in self._exclusive:
            return self._first(self._reserved)
        if self._reserved_exclusive:
            return self._first(self._reserved_exclusive)
        holders = self._holders
        if not holders:
            return None
        claims = self._claims
        clashing = [
            holder
            for key in claims.keys_of(task_id)
            for other in claims.touching(key)
            for holder in holders.get(other, ())
        ]
        return self._first(clashing) if clashing else None

    def _clash_reason(self, task_id: str, holder: str) -> str:
        described = f"running {holder}"
        if self._state[holder] != TaskState.RUNNING:
            described = f"{holder} (done, not merged yet)"
        if task_id in self._exclusive:
            return f"exclusive footprint, waiting for {described}"
        if holder in self._exclusive:
            return f"exclusive footprint of {described}"
        return f"footprint overlaps {described}"

    def _first(self, task_ids: Iterable[str]) -> str:
        return min(task_ids, key=self._index.__getitem__)

    def _open_lane(self, lane: Lane) -> bool:
        """Whether a task of this lane could start, footprint overlaps aside."""
        agent, exclusive = lane
        return self._per_agent[agent] < self._caps[agent] and not (exclusive and self._reserved)

    # -------------------------------------------------------------- transitions
    def next_starts(self, *, admit: bool = True, why: str = "") -> list[str]:
        """Start every ready task that fits now, best first, and return them (now RUNNING).

        ``admit=False`` starts nothing (the engine's disk-space admission) but is remembered so
        that ``waiting_reasons`` can say so; ``why`` is the explanation to show.
        """
        if not admit:
            self._admission = why or "new starts paused"
            return []
        self._admission = None
        started: list[str] = []
        # Nothing starts beside an exclusive task, so stop rather than park everything on it.
        while len(self._running) < self._instances and not self._reserved_exclusive:
            task_id = self._ready.pop_best(self._open_lane)
            if task_id is None:
                break
            holder = self._clash(task_id)
            if holder is None:
                self._start(task_id)
                started.append(task_id)
            else:
                self._ready.park(task_id, holder)
        return started

    def agent_finished(self, task_id: str, ok: bool) -> list[str]:
        """The agent is over and its slot frees; a failure ends the task and skips dependents."""
        self._expect(task_id, TaskState.RUNNING)
        self._running.discard(task_id)
        self._per_agent[self._agent[task_id]] -= 1
        if ok:
            self._state[task_id] = TaskState.DONE
            self._done.add(task_id)
            return []
        self._release(task_id)
        self._end(task_id, TaskState.FAILED)
        return self._skip_dependents(task_id)

    def merged(self, task_id: str) -> None:
        """The branch landed: its footprint frees and dependents may become ready."""
        self._expect(task_id, TaskState.DONE)
        self._done.discard(task_id)
        self._release(task_id)
        self._end(task_id, TaskState.MERGED)
        for user in self._dependents[task_id]:
            self._unmerged[user] -= 1
            if self._unmerged[user] == 0 and self._state[user] == TaskState.PENDING:
                self._ready.add(user)

    def not_merged(self, task_id: str, state: TaskState) -> list[str]:
        """The branch will not land (CONFLICT, FAILED, or CANCELLED by a hard stop): free it and
        skip its dependents."""
        if state not in _GIVEN_UP:
            raise ValueError(f"not_merged needs CONFLICT, FAILED or CANCELLED, not {state}")
        self._expect(task_id, TaskState.DONE)
        self._done.discard(task_id)
        self._release(task_id)
        self._end(task_id, state)
        return self._skip_dependents(task_id)

    def start_key(self, task_id: str) -> PriorityKey:
        """Where a task stands in the start order (lower starts first among ready tasks)."""
        return self._keys[task_id]

    def rerank(self, rank: Mapping[str, int]) -> None:
        """A new start order for tasks not started yet, as ``Plan.rank`` gives one (``rank``
        must cover every PENDING task; others are ignored). The re-planner calls this when real
        durations part from the estimates (``coordinator.core.replan``)."""
        for task_id, position in rank.items():
            if self._state.get(task_id) == TaskState.PENDING:
                spec = self._plan.task(task_id).spec
                self._keys[task_id] = (0, float(position), 0.0, spec.order, task_id)
        self._ready.rekey()

    def retry(self, task_id: str) -> None:
        """A conflicted DONE task goes back to PENDING, to run again from the new head.

        Refused after ``cancel``: the task would sit PENDING forever, as nothing starts then.
        """
        self._expect(task_id, TaskState.DONE)
        if self._cancelled:
            raise ValueError(f"cannot retry {task_id!r}: the run was cancelled")
        self._done.discard(task_id)
        self._release(task_id)
        self._state[task_id] = TaskState.PENDING
        self._attempts[task_id] += 1
        self._ready.add(task_id)

    def cancel(self) -> list[str]:
        """Ctrl-C: nothing PENDING will start; running and DONE tasks are left to the caller."""
        self._cancelled = True
        cancelled = [t for t in self._plan.ids if self._state[t] == TaskState.PENDING]
        for task_id in cancelled:
            self._end(task_id, TaskState.CANCELLED)
        self._ready.clear()
        return cancelled

    # ------------------------------------------------------------------ helpers
    def _known(self, task_id: str) -> None:
        if task_id not in self._state:
            raise ValueError(f"unknown task {task_id!r}")

    def _expect(self, task_id: str, state: TaskState) -> None:
        self._known(task_id)
        if self._state[task_id] != state:
            raise ValueError(f"task {task_id!r} is {self._state[task_id]}, not {state}")

    def _start(self, task_id: str) -> None:
        self._state[task_id] = TaskState.RUNNING
        self._running.add(task_id)
        self._per_agent[self._agent[task_id]] += 1
        self._reserved.add(task_id)
        if task_id in self._exclusive:
            self._reserved_exclusive.add(task_id)
        for key in self._claims.keys_of(task_id):
            self._holders.setdefault(key, set()).add(task_id)

    def _release(self, task_id: str) -> None:
        """The footprint frees; tasks parked on it get another look at the next decision."""
        if task_id in self._reserved:
            for key in self._claims.keys_of(task_id):
                holding = self._holders[key]
                holding.discard(task_id)
                if not holding:
                    del self._holders[key]
        self._reserved.discard(task_id)
        self._reserved_exclusive.discard(task_id)
        self._ready.unpark(task_id)

    def _end(self, task_id: str, state: TaskState) -> None:
        self._state[task_id] = state
        self._open -= 1

    def _skip_dependents(self, cause: str) -> list[str]:
        """Skip every PENDING task downstream of ``cause``; return them in plan order.

        Only PENDING tasks can be downstream of a task that never merged (anything later needs
        it MERGED to start), and the walk stops at tasks already skipped or cancelled, whose own
        dependents were handled when they ended.
        """
        skipped: list[str] = []
        stack = [cause]
        while stack:
            for user in self._dependents[stack.pop()]:
                if self._state[user] == TaskState.PENDING:
                    self._end(user, TaskState.SKIPPED)
                    self._skip_cause[user] = cause
                    skipped.append(user)
                    stack.append(user)
        return sorted(skipped, key=self._index.__getitem__)
