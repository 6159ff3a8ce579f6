"""Estimates for tasks whose spec gives none, learned from how long earlier attempts took.

A spec's ``estimate:`` always wins. Without one, the best guess is the task itself: its own
earlier successful attempts with the same spec (same id and spec digest), since an agent redoing
the same instructions tends to take about as long again. Failing that, the agent type's typical
attempt says how slow that kind of agent is. Failing that, a default: the median of the
estimates known so far (the rule ``plan`` always had), or ``DEFAULT_ESTIMATE`` when nothing at
all is known, so that a plan with no estimates weighs every task the same and its critical path
is the longest chain by task count, as the spec format promises.

Medians, not means: one attempt that hung until its timeout or crashed at once must not drag
every later plan with it. Only recent attempts count (``OWN_RECENT``, ``AGENT_RECENT``), so a
task or an agent that got faster is believed after a few runs. Pure: the store's rows arrive as
``PastAttempt`` values, read by the I/O layer.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from coordinator.core.models import TaskSpec

DEFAULT_ESTIMATE = 60.0
"""Seconds assumed per task when no task has an estimate and nothing was ever run."""

OWN_RECENT = 5  # a task's newest attempts its median is taken over
AGENT_RECENT = 50  # an agent type's newest attempts its median is taken over


class EstimateSource(StrEnum):
    """Where a task's estimate came from; ``plan`` shows it beside each estimate."""

    SPEC = "spec"  # the spec's ``estimate:``
    HISTORY = "history"  # the median of this task's own earlier attempts (same spec digest)
    AGENT_MEDIAN = "agent-median"  # the median of its agent type's earlier attempts
    DEFAULT = "default"  # nothing known: the median of the other estimates, or 60 s


@dataclass(frozen=True, slots=True)
class PastAttempt:
    """One finished, successful attempt of a task in an earlier run."""

    task_id: str
    agent: str
    digest: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Estimate:
    seconds: float
    source: EstimateSource


@dataclass(frozen=True)
class DurationHistory:
    """Past attempts' durations, indexed the two ways estimates are looked up.

    Built from attempts newest first; a bad duration (negative, NaN, infinite: a clock that
    jumped) is dropped rather than trusted.
    """

    own: Mapping[tuple[str, str], tuple[float, ...]] = field(default_factory=dict)
    by_agent: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, attempts: Iterable[PastAttempt]) -> DurationHistory:
        """Index ``attempts``, which must come newest first."""
        own: dict[tuple[str, str], list[float]] = defaultdict(list)
        by_agent: dict[str, list[float]] = defaultdict(list)
        for attempt in attempts:
            if not (math.isfinite(attempt.seconds) and attempt.seconds >= 0):
                continue
            mine = own[attempt.task_id, attempt.digest]
            if len(mine) < OWN_RECENT:
                mine.append(attempt.seconds)
            theirs = by_agent[attempt.agent]
            if len(theirs) < AGENT_RECENT:
                theirs.append(attempt.seconds)
        return cls(
            own={key: tuple(values) for key, values in own.items()},
            by_agent={agent: tuple(values) for agent, values in by_agent.items()},
        )


def learn_estimate(own: Sequence[float], agent: Sequence[float], default: float) -> Estimate:
    """The rule for one task without ``estimate:``: its own attempts, its type's, or ``default``.

    ``own`` and ``agent`` are past durations in seconds (newest first, already limited to the
    recent ones); an empty sequence means none are known.
    """
    if own:
        return Estimate(statistics.median(own), EstimateSource.HISTORY)
    if agent:
        return Estimate(statistics.median(agent), EstimateSource.AGENT_MEDIAN)
    return Estimate(default, EstimateSource.DEFAULT)


def estimate_tasks(
    specs: Sequence[TaskSpec], history: DurationHistory | None = None
) -> dict[str, Estimate]:
    """Every task's estimate and its source, in the order of ``specs``.

    The default for tasks nothing is known about is the median of every other estimate (given
    or learned), else ``DEFAULT_ESTIMATE``: a guess in the same range as its neighbours keeps
    the critical path meaningful, where a fixed number could dwarf or vanish beside them.
    """
    history = history or DurationHistory()
    found: dict[str, Estimate | None] = {}
    for spec in specs:
        if spec.estimate is not None:
            found[spec.id] = Estimate(spec.estimate, EstimateSource.SPEC)
            continue
        learned = learn_estimate(
            history.own.get((spec.id, spec.digest), ()),
            history.by_agent.get(spec.agent, ()),
            math.nan,
        )
        found[spec.id] = learned if learned.source != EstimateSource.DEFAULT else None
    known = [e.seconds for e in found.values() if e is not None]
    default = statistics.median(known) if known else DEFAULT_ESTIMATE
    return {
        task_id: e if e is not None else Estimate(default, EstimateSource.DEFAULT)
        for task_id, e in found.items()
    }
