"""Admission: whether the machine has room for one more agent now (disk, memory, CPU load).

The engine asks before every round of starts; the rule is ``decisions.admission``. While starts
are held back the loop may have nothing else to wait for (no agent running), so it sets itself a
timer and looks again every ``RECHECK`` seconds; each look also reads the three limits again from
the config file, so lowering ``min_free_memory`` (or ``min_free_disk``, ``max_load``) in
``coordinator.toml`` lets a waiting run go on without restarting it.
"""

from __future__ import annotations

import os
import shutil
import time

import psutil

from coordinator.core.config import Config
from coordinator.core.decisions import Limits, Machine, admission
from coordinator.engine.context import RunContext, Timer
from coordinator.errors import CoordinatorError
from coordinator.project import read_config

RECHECK = 2.0  # seconds between looks while starts are held back


def limits_of(config: Config) -> Limits:
    return Limits(config.min_free_disk, config.min_free_memory, config.max_load)


def machine(ctx: RunContext, limits: Limits) -> Machine:
    """What the machine has now; memory and load are only read when a limit asks for them."""
    directory = ctx.project.root / ctx.config.worktrees
    probe = directory if directory.exists() else ctx.project.root
    memory = psutil.virtual_memory().available if limits.min_free_memory else 0
    load = 0.0
    if limits.max_load is not None:
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
    return Machine(shutil.disk_usage(probe).free, memory, load)


def admits(ctx: RunContext) -> tuple[bool, str]:
    """(may a task start now, why not); a change of reason goes to the event log once."""
    limits = ctx.limits
    where = str(ctx.project.root / ctx.config.worktrees)
    why = admission(machine(ctx, limits), limits, where=where)
    if why != ctx.admission:
        ctx.admission = why
        if why:
            ctx.rec.emit("waiting", None, why)
    if why and not ctx.admission_timer:
        ctx.admission_timer = True
        ctx.add_timer(time.time() + RECHECK, Timer("admission", "", 0))
    return not why, why


def on_recheck(ctx: RunContext) -> None:
    """The timer fired: the loop looks again next; the limits come from the config anew."""
    ctx.admission_timer = False
    try:
        config, _ = read_config(ctx.project.root)
    except CoordinatorError as exc:
        ctx.rec.emit("warning", None, f"config not read again for admission limits: {exc}")
        return
    limits = limits_of(config)
    if limits != ctx.limits:
        said = f"min_free_disk {limits.min_free_disk}, min_free_memory {limits.min_free_memory}"
        said += f", max_load {limits.max_load}"
        ctx.rec.emit("admission", None, f"limits read again from the config: {said}")
        ctx.limits = limits
