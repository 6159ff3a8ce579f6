"""Today's ways of running a task DAG, as thin variants of one plan on the real ``Scheduler``.

Every strategy respects dependencies (a dependent starts after its dependency merged),
footprint conflicts and agent caps, because every one of them is simulated by
``coordinator.core.simulate`` on the same scheduler; they differ only in the order in which
ready tasks are taken (``Plan.rank``) and in barriers that hold starts back. A barrier is a
zero-length task that depends on a whole group and that the next group depends on: it ends the
instant the group's last task merges, so it withholds starts without costing time.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

from coordinator.core.graph import remaining_path
from coordinator.core.models import Footprint, Task, TaskSpec
from coordinator.core.plan import Plan
from coordinator.core.replan import Replanner
from coordinator.core.simulate import finish_times

BARRIER_AGENT = "~barrier"


def ranked(plan: Plan, order: Sequence[str]) -> Plan:
    """The plan with ``order`` as its rank (position 0 starts first among ready tasks)."""
    return dataclasses.replace(plan, rank={task_id: i for i, task_id in enumerate(order)})


def spec_order(plan: Plan) -> list[str]:
    return sorted(plan.ids, key=lambda t: plan.task(t).spec.order)


def fifo(plan: Plan) -> Plan:
    """The task-queue approach: ready tasks in the order they were written, no priorities."""
    return ranked(plan, spec_order(plan))


def critical_path(plan: Plan) -> Plan:
    """The policy without a chosen rank: longest remaining path first (``priority_key``)."""
    return dataclasses.replace(plan, rank={})


def layers(plan: Plan) -> Plan:
    """The "DAG layers" approach: run each topological depth to the end, then the next."""
    depth: dict[str, int] = {}
    for task_id in plan.ids:
        depth[task_id] = 1 + max((depth[d] for d in plan.deps[task_id]), default=-1)
    groups: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for task_id in spec_order(plan):
        groups[depth[task_id]].append(task_id)
    return with_barriers(plan, groups)


def batches(plan: Plan, size: int) -> Plan:
    """The shell ``&`` + ``wait`` approach: N tasks at a time, in (topological) spec order,
    each batch run to completion before the next starts."""
    order = list(plan.ids)  # stable topological order: spec order wherever that is valid
    return with_barriers(plan, [order[i : i + size] for i in range(0, len(order), size)])


def with_barriers(plan: Plan, groups: Sequence[Sequence[str]]) -> Plan:
    """A plan that runs ``groups`` one after the other, in spec order within each group.

    ``groups`` must be in topological order (no task depends on a later group).
    """
    tasks: list[Task] = []
    deps: dict[str, tuple[str, ...]] = {}
    weights = dict(plan.weights)
    barrier: str | None = None
    for k, group in enumerate(groups):
        for task_id in group:
            tasks.append(plan.task(task_id))
            deps[task_id] = plan.deps[task_id] + ((barrier,) if barrier else ())
        if k == len(groups) - 1:
            break
        barrier = f"~barrier{k}"
        spec = TaskSpec(barrier, BARRIER_AGENT, "", "(barrier)", -1, depends_on=tuple(group))
        tasks.append(Task(spec, Footprint()))
        deps[barrier] = tuple(group)
        weights[barrier] = 0.0
    ids = [t.id for t in tasks]
    dependents: dict[str, list[str]] = {t: [] for t in ids}
    for task_id in ids:
        for dep in deps[task_id]:
            dependents[dep].append(task_id)
    return dataclasses.replace(
        plan,
        tasks=tuple(tasks),
        deps=deps,
        dependents={t: tuple(users) for t, users in dependents.items()},
        weights=weights,  # barriers own no claim: ``plan.overlaps`` does not know them
        remaining=remaining_path(ids, deps, weights),
        rank={task_id: i for i, task_id in enumerate(ids)},
    )


def makespan(
    plan: Plan,
    instances: int,
    caps: Mapping[str, int],
    durations: Mapping[str, float],
    *,
    replan: bool = False,
) -> float:
    """Simulated makespan with the true ``durations`` (barriers take their zero weight).

    ``replan``: re-plan the waiting tasks as durations come in, as the engine does.
    """
    adjuster = Replanner(plan, instances=instances, caps=caps) if replan else None
    return finish_times(
        plan, instances=instances, caps=caps, durations=durations, adjuster=adjuster
    )[0]


def sequential(durations: Mapping[str, float]) -> float:
    """One task at a time: the sum of all durations, whatever the order."""
    return math.fsum(durations.values())
