"""Re-plan while a run goes: once real durations part from the estimates, choose a new order.

The start order (``Plan.rank``) is chosen before the run by simulating on the estimates, and
estimates are guesses: agents' real durations are routinely off by half or double. A fixed
order tuned to one guess then starts the wrong tasks first. So whenever a task finishes
noticeably earlier or later than estimated, or one runs past its estimate, the ``Replanner``
takes the run as it stands (what has finished, what is running and for how long, what is left)
and chooses a new order for the tasks not started yet, by the same simulation search
(``coordinator.core.ordering.choose_rank``) on the residual plan. Measured on the noisy
benchmark families (``scripts/bench schedule``), this recovers part of what wrong estimates
cost, most where footprints conflict or agent types are capped.

While everything goes as estimated nothing is re-planned, so with exact estimates a run (and
the simulated schedule ``plan`` prints) follows the chosen order exactly as before.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Mapping, Sequence
from statistics import NormalDist

from coordinator.core.graph import dependents_of, remaining_path
from coordinator.core.models import Task, TaskState
from coordinator.core.ordering import DEFAULT_BUDGET, candidate_orders
from coordinator.core.plan import Plan
from coordinator.core.policy import Scheduler
from coordinator.core.simulate import finish_times

REPLAN_BUDGET = DEFAULT_BUDGET // 4
"""Simulated task starts one re-plan may spend (``choose_rank``'s budget): a quarter of the
plan's own, as a run re-plans up to once per finished task."""

DEVIATION = 0.1
"""A finish this far (as a fraction of the estimate) from its estimate calls for a re-plan."""

SIGMA = 0.5
"""The assumed lognormal spread of real durations around their estimates, for the time a
running task still needs (``expected_left``)."""

SPAN = 100
"""Waiting tasks per finish between two re-plans: with ``left`` tasks not finished at the last
re-plan, the next one waits for ``left // SPAN`` finishes (at least one). A re-plan costs time
in proportion to what is left, so one per finish made each task's cost grow with the run (at
1,000 tasks it was a quarter of the coordinator's time); and with hundreds waiting, the next
few starts barely depend on the last finish. Plans of under ``2 * SPAN`` tasks re-plan at every
finish, as before."""

SCENARIOS = 12  # jittered copies of the estimates a re-plan scores its candidate orders on
RULES = 4  # rule-based orders tried beside the current one

_NORMAL = NormalDist()


def expected_left(estimate: float, elapsed: float, sigma: float = SIGMA) -> float:
    """How much longer a task is likely to run, ``elapsed`` seconds in: the conditional median.

    With the real duration D = estimate * exp(sigma * Z), the median of D given D > elapsed,
    minus elapsed. At the start that is the estimate; a task already past its estimate is
    expected to run on, the longer the further past it is, rather than to finish at once.
    """
    if estimate <= 0:
        return 0.0
    if elapsed <= 0:
        return estimate
    beyond = 1.0 - _NORMAL.cdf(math.log(elapsed / estimate) / sigma)
    quantile = min(1.0 - 0.5 * beyond, 1.0 - 1e-12)
    median = estimate * math.exp(sigma * _NORMAL.inv_cdf(quantile))
    return max(median - elapsed, 0.0)


class Replanner:
    """Watches durations come in and re-ranks a ``Scheduler``'s waiting tasks when they deviate.

    ``plan`` must be the plan the scheduler runs (its ``weights`` are the estimates). The caller
    reports each finished attempt with ``finished`` and calls ``update`` before asking the
    scheduler for new starts; both are cheap unless a re-plan is due.
    """

    def __init__(
        self,
        plan: Plan,
        *,
        instances: int,
        caps: Mapping[str, int],
        budget: int = REPLAN_BUDGET,
        deviation: float = DEVIATION,
    ) -> None:
        self._plan = plan
        self._instances = instances
        self._caps = dict(caps)
        self._budget = budget
        self._deviation = deviation
        self._due = False
        self._overrun: set[str] = set()
        self._finishes = 0  # since the last re-plan
        self._spacing = replan_spacing(len(plan.ids))
        self.replans = 0

    def finished(self, task_id: str, seconds: float) -> None:
        """An attempt of ``task_id`` ended after ``seconds``; far from its estimate, re-plan."""
        estimate = self._plan.weights.get(task_id)
        if estimate is None:
            return
        self._finishes += 1
        if abs(seconds - estimate) > self._deviation * estimate:
            self._due = True

    def update(self, scheduler: Scheduler, running: Mapping[str, float]) -> bool:
        """Re-rank ``scheduler``'s tasks not started yet if a re-plan is due; True if it did.

        ``running`` maps each running task to the seconds it has run. A task running past its
        estimate calls for one re-plan (not one per event while it overruns). With hundreds of
        tasks left, a due re-plan waits for enough finishes since the last one (``SPAN``).
        """
        for task_id, elapsed in running.items():
            estimate = self._plan.weights.get(task_id, 0.0)
            if task_id not in self._overrun and elapsed > estimate * (1 + self._deviation):
                self._overrun.add(task_id)
                self._due = True
        if not self._due or (self._spacing > 1 and self._finishes < self._spacing):
            return False
        self._due = False
        self._finishes = 0
        state = scheduler.state
        pending = [t for t in self._plan.ids if state[t] == TaskState.PENDING]
        if not pending:
            return False
        left = [t for t in self._plan.ids if state[t] in (TaskState.PENDING, TaskState.RUNNING)]
        self._spacing = replan_spacing(len(left))
        rules = affordable_rules(len(left), self._budget)
        if rules < 1:
            return False  # too big to compare even one other order within the budget
        running = {t: running.get(t, 0.0) for t in left if state[t] == TaskState.RUNNING}
        plan = residual_plan(self._plan, left, running)
        current = sorted(left, key=scheduler.start_key)
        order = robust_order(plan, current, instances=self._instances, caps=self._caps,
                             budget=self._budget, seed=self.replans, rules=rules)  # fmt: skip
        scheduler.rerank({t: i for i, t in enumerate(order)})
        self.replans += 1
        return True


def replan_spacing(left: int) -> int:
    """Finishes a due re-plan waits for, with ``left`` tasks not finished (see ``SPAN``)."""
    return max(1, left // SPAN)


def affordable_rules(tasks: int, budget: int) -> int:
    """How many rule-based orders a re-plan of ``tasks`` can score beside the current one on
    at least two scenarios within ``budget`` simulated starts (at most ``RULES``).

    The budget holds for every size: a run re-plans up to once per finished task, so a re-plan
    that outgrew it made each task's cost grow with the run (at 1,000 tasks two scenarios of
    five orders were 2.5 budgets, every time).
    """
    if tasks <= 0:
        return RULES
    return max(0, min(RULES, budget // (2 * tasks) - 1))


def residual_plan(plan: Plan, left: list[str], running: Mapping[str, float]) -> Plan:
    """What is left of ``plan``: the tasks ``left`` (in plan order), running ones first.

    A running task weighs the time it is likely to need still (``expected_left``) and outranks
    every waiting one (a priority above all), so the simulation starts it at once, as it is in
    fact running; dependencies on finished tasks are dropped.
    """
    keep = set(left)
    top = max((plan.task(t).spec.priority for t in left), default=0) + 1
    tasks = []
    for task_id in left:
        task = plan.task(task_id)
        spec = dataclasses.replace(
            task.spec,
            priority=top if task_id in running else task.spec.priority,
            depends_on=tuple(d for d in task.spec.depends_on if d in keep),
        )
        tasks.append(Task(spec, task.footprint))
    deps = {t: tuple(d for d in plan.deps.get(t, ()) if d in keep) for t in left}
    weights = {
        t: expected_left(plan.weights[t], running[t]) if t in running else plan.weights[t]
        for t in left
    }
    users = dependents_of(left, deps)
    return dataclasses.replace(
        plan,
        tasks=tuple(tasks),
        deps=deps,
        dependents=users,
        conflicts=(),
        weights=weights,
        remaining=remaining_path(left, deps, weights, users=users),
        rank={},
    )


def robust_order(
    plan: Plan,
    current: Sequence[str],
    *,
    instances: int,
    caps: Mapping[str, int],
    budget: int,
    seed: int = 0,
    rules: int = RULES,
) -> list[str]:
    """The order with the shortest mean makespan over jittered copies of ``plan``'s estimates.

    Unlike ``choose_rank``, which must stay near-best on the estimates in case they are exact,
    a re-plan happens because they were not: so what counts is how an order fares across what
    the durations may turn out to be. Candidates: ``current`` (kept on a tie, so the order does
    not churn) and the rules of ``candidate_orders``, each scored on the same seeded scenarios
    (``SCENARIOS``, fewer when ``budget``, in simulated task starts, allows fewer).
    """
    ids = plan.ids
    scenarios = max(2, min(SCENARIOS, budget // (len(ids) * (rules + 1)) if ids else 0))
    rng = random.Random(f"replan/{seed}")  # noqa: S311 - a reproducible draw, not a secret
    draws = [
        {t: w * math.exp(rng.gauss(0.0, SIGMA)) for t, w in plan.weights.items()}
        for _ in range(scenarios)
    ]
    priority = {t: plan.task(t).spec.priority for t in ids}

    def score(order: Sequence[str]) -> float:
        ranked = sorted(order, key=lambda t: -priority[t])  # stable: levels first, as ranked
        trial = dataclasses.replace(plan, rank={t: i for i, t in enumerate(ranked)})
        total = 0.0
        for durations in draws:
            total += finish_times(trial, instances=instances, caps=caps, durations=durations)[0]
        return total / len(draws)

    best, best_score = list(current), score(current)
    for order in candidate_orders(plan, instances=instances, caps=caps, most=rules):
        value = score(order)
        if value < best_score - 1e-9:
            best, best_score = order, value
    return best
