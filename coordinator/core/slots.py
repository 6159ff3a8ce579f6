"""Slots and ports: each running task gets a small number of its own, and a port range from it.

Three agents that each start the app on port 3000 collide; the coordinator hands each running
task a *slot* ``0 .. instances-1`` that no other running task holds, and a port derived from it
(``port_base + slot * port_stride``), in the agent's environment and as placeholders. A task
keeps its slot until its agent's work is over; a slot that was just given back is handed out
again only when no other is free, so a stopping agent's server has the most time to let go of
its port.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

MAX_PORT = 65535


def pick_slot(instances: int, taken: Collection[int], cooling: Sequence[int] = ()) -> int:
    """The slot for a task starting now: the lowest free one not still ``cooling`` (given back
    by an agent whose processes may still be stopping, oldest first), else the coolest one.

    Raises ``ValueError`` when every slot is taken: the policy never runs more than
    ``instances`` agents, so that is a bug in the caller.
    """
    free = [slot for slot in range(instances) if slot not in taken]
    if not free:
        raise ValueError(f"all {instances} slots are taken")
    settled = [slot for slot in free if slot not in cooling]
    if settled:
        return settled[0]
    return next(slot for slot in cooling if slot in free)


def port_for(slot: int, base: int, stride: int) -> int:
    """The first port of ``slot``'s range; the task may use ``stride`` ports from it."""
    return base + slot * stride


def ports_problem(base: int, stride: int, instances: int) -> str | None:
    """Why the last slot's port range would not fit under 65535, or None when it fits."""
    last = port_for(instances - 1, base, stride) + stride - 1
    if last > MAX_PORT:
        return (
            f"port_base {base} + {instances} slots x port_stride {stride} reaches port {last}, "
            f"above {MAX_PORT}"
        )
    return None
