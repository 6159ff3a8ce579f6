"""Ctrl-C and SIGTERM (or ``StopRequest.stop``): stop starting, stop agents, keep their work.

The first stop starts nothing more, cancels what has not started, and stops every running
agent as a done marker would (SIGTERM, then SIGKILL after ``grace``), keeping its work on a
``coordinator/cancelled/...`` branch; work already finished still lands. The second one kills
at once: every agent's process group and the merge gate get SIGKILL from the thread that asked,
whatever the loop is doing, and nothing waits in line for the merge lane any more.
"""

from __future__ import annotations

import contextlib
import os
import signal

from coordinator.core.decisions import interrupted
from coordinator.engine import ending, finishing
from coordinator.engine.context import Interrupt, RunContext


def request_stop(ctx: RunContext, hard: bool = False) -> None:
    """Stop as the first Ctrl-C does, or with ``hard`` as the second; from any thread."""
    if hard:
        ctx.hard.set()
        kill_now(ctx)
    ctx.events.put(Interrupt(hard=hard))


def kill_now(ctx: RunContext) -> None:
    """SIGKILL every live agent's process group and the merge gate's: each leads its session.

    Safe from any thread: the book's task map never changes size, and an agent not yet reaped
    keeps its pid, so the group signalled is the agent's own.
    """
    for task in list(ctx.book.tasks.values()):
        proc = task.proc
        if proc is not None:
            proc.cancel()
        if proc is not None and proc.pid is not None and proc.alive():
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
    ctx.gate.trip()
    for switch in list(ctx.setups.values()):
        switch.trip()


def on_interrupt(ctx: RunContext, event: Interrupt) -> None:
    if event.hard:
        ctx.hard.set()
    if not ctx.stopping:
        ctx.stopping = True
        ctx.book.cancel_pending()
        ctx.rec.emit("stopping", None, "interrupted: no new tasks; stopping running agents")
        ending.give_up_retries(ctx)
    for switch in list(ctx.setups.values()):  # a setup command stops like an agent
        switch.trip()
    for task in ctx.book.running_agents():
        finishing.complete(ctx, task.id, interrupted())
