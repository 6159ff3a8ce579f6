"""The merge queue's rules: which entries the next gate round checks, and what its results mean.

The queue works in rounds. A round takes the first ``parallel`` groups of up to ``batch``
waiting entries; the engine merges them onto the target one after another as a chain of
commits (group 2 on top of group 1's result, Zuul's dependent pipeline), runs the gate on each
group's last commit at the same time, then moves the target over every leading group whose gate
passed. Groups behind the first failure were built on it, so their results mean nothing; they
simply stay queued and are rebuilt without it.

A failing group of one fails its task. A failing batch is bisected the bors way, one probe at
a time so that no probe is wasted: its left half is checked alone on the target. A passing
probe lands and leaves the culprit in the right half (a right half of one is the culprit
without a check of its own, as Mergify infers it); a failing probe is bisected again and the
right half goes back to the queue. One failure in a batch of ``n`` thus costs ``log2(n)``
probes, plus at most ``parallel - 1`` speculative gates discarded in the round it was found.

Pure: no git, no processes, no clock (tests in ``tests/core/test_mergequeue.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Group = tuple[str, ...]


@dataclass(frozen=True)
class RoundVerdict:
    """What a round's gate results mean: ``land`` these tasks (in order, the target moves to the
    last one's merge commit), ``fail`` these (each with the group whose gate failed it), and
    whether the failure was ``inferred`` (no gate of its own; the batch's gate said it)."""

    land: Group = ()
    fail: tuple[tuple[str, int], ...] = ()  # (task id, index of the group whose gate failed)
    inferred: bool = False


@dataclass
class MergeQueue:
    """The queue's memory between rounds: the batch being bisected, if any."""

    parallel: int = 1
    batch: int = 1
    bisecting: Group = ()
    rounds: int = 0
    gate_runs: int = 0
    probes: int = 0
    history: list[str] = field(default_factory=list)  # one line per round, for the event log

    def __post_init__(self) -> None:
        if self.parallel < 1 or self.batch < 1:
            raise ValueError("parallel and batch must be at least 1")

    def next_round(self, waiting: Sequence[str]) -> list[Group]:
        """The groups the next round checks, in order (empty: nothing to do).

        ``waiting`` is every entry waiting to merge, in dependency order. While a batch is
        bisected, the round is its probe alone: nothing behind a known failure is worth a gate.
        """
        present = set(waiting)
        self.bisecting = tuple(t for t in self.bisecting if t in present)
        if len(self.bisecting) == 1:  # the others left the queue (conflict, hard stop)
            return [self.bisecting]
        if self.bisecting:
            return [self.bisecting[: len(self.bisecting) // 2]]
        groups = [tuple(waiting[i : i + self.batch]) for i in range(0, len(waiting), self.batch)]
        return groups[: self.parallel]

    def judge(self, groups: Sequence[Group], passed: Sequence[bool]) -> RoundVerdict:
        """Record a round's results (``passed[i]`` for ``groups[i]``) and say what they mean."""
        if len(groups) != len(passed):
            raise ValueError("one result per group")
        self.rounds += 1
        self.gate_runs += len(groups)
        if self.bisecting and groups and len(self.bisecting) > 1:
            return self._judge_probe(groups[0], passed[0])
        self.bisecting = ()
        land: list[str] = []
        for index, (group, ok) in enumerate(zip(groups, passed, strict=True)):
            if ok:
                land.extend(group)
                continue
            if len(group) == 1:
                return RoundVerdict(tuple(land), ((group[0], index),))
            self.bisecting = group
            return RoundVerdict(tuple(land))
        return RoundVerdict(tuple(land))

    def _judge_probe(self, probe: Group, ok: bool) -> RoundVerdict:
        self.probes += 1
        rest = self.bisecting[len(probe) :]
        if ok:
            if len(rest) == 1:
                self.bisecting = ()
                return RoundVerdict(probe, ((rest[0], -1),), inferred=True)
            self.bisecting = rest
            return RoundVerdict(probe)
        if len(probe) == 1:
            self.bisecting = ()
            return RoundVerdict((), ((probe[0], 0),))
        self.bisecting = probe
        return RoundVerdict()

    def drop(self, task_id: str) -> None:
        """The entry left the queue outside a verdict (a conflict while its chain was built)."""
        self.bisecting = tuple(t for t in self.bisecting if t != task_id)
