"""Agents on another machine (``executor = "ray"``): the launch handed to the executor, and
what its events mean for the run.

The engine starts a remote agent where it would start a local one (``starting``), from the
same worktree, values and environment; the executor (``coordinator.io.executor``) hands the
work back into that worktree before the agent's exit is reported, so finishing, gating and
merging never know where the agent ran. What is new is recorded here: the node each try
runs on, a node that died (each try is an event of the run), a cluster that is gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from coordinator.core.decisions import setup_failed, stop_grace
from coordinator.engine import finishing, interrupts, isolating
from coordinator.engine.context import RunContext
from coordinator.io.agents import AgentProcess
from coordinator.io.executor import (
    ClusterLost,
    Executor,
    NodeDone,
    NodeLost,
    NodeSetup,
    NodeStarted,
    RemoteLaunch,
)
from coordinator.io.raynode import NodeJob
from coordinator.io.runfiles import render_spec


def start(
    ctx: RunContext, executor: Executor, task_id: str, values: Mapping[str, str]
) -> AgentProcess:
    """Hand the task's agent to the executor; returns at once, like ``start_agent``."""
    task = ctx.plan.task(task_id)
    run = ctx.book[task_id]
    agent = ctx.agent_config(task_id)
    assert run.branch and run.base and run.worktree
    title = task.spec.title or task_id
    setup = ctx.config.worktree  # runs on the node, in its fresh clone, before the agent
    job = NodeJob(
        task_id=task_id, run_id=ctx.run_id, attempt=run.attempt, branch=run.branch,
        base=run.base, command=tuple(agent.command),
        extra_env={**agent.env, "COORDINATOR_ATTEMPT": str(run.attempt)},
        values=dict(values), spec_text=render_spec(task.spec), log_limit=ctx.config.log_limit,
        grace=stop_grace(agent.grace, ctx.config.grace, hard=False),
        identity=ctx.config.identity,
        message_ok=f"{title}\n\nWork of task {task_id} left uncommitted.",
        message_wip=f"WIP {task_id}: work left by the agent",
        remote=ctx.config.ray.remote, sandbox=task.isolation == isolating.SANDBOX,
        setup=tuple(setup.setup or ()), setup_timeout=setup.setup_timeout,
    )  # fmt: skip
    launch = RemoteLaunch(
        job, task.agent, ctx.repo, worktree=Path(run.worktree),
        log=ctx.files.log(task_id, run.attempt), marker=ctx.watcher.marker_path(task_id),
        scratch=ctx.files.root,
    )  # fmt: skip
    return executor.start(launch, ctx.events)


def on_node_started(ctx: RunContext, event: NodeStarted) -> None:
    task = ctx.book.tasks.get(event.task_id)
    if task is None or task.attempt != event.attempt or not task.agent_running:
        return
    ctx.book.update(task.id, node=event.node)
    # A setup on the node has its own bound (setup_timeout); the agent's clock starts after it.
    setup = ctx.config.worktree
    finishing.arm_timeout(ctx, task.id, setup.setup_timeout if setup.setup else 0.0)
    again = f" (run {event.try_number}, after a node died)" if event.try_number > 1 else ""
    ctx.rec.emit("node", task.id, f"on node {event.node}{again}", node=event.node,
                 attempt=event.attempt, run=event.try_number)  # fmt: skip


def on_node_setup(ctx: RunContext, event: NodeSetup) -> None:
    """``[worktree] setup`` ran on the node: as locally, a failure fails the task (reason
    ``setup``, the agent never ran), a success starts the agent's clock."""
    task = ctx.book.tasks.get(event.task_id)
    if task is None or task.attempt != event.attempt or not task.agent_running:
        return
    ctx.rec.add_phase(task.id, "setup", event.seconds)
    if event.ok:
        ctx.rec.emit("setup-done", task.id, f"in {event.seconds:.1f}s on node {task.node}")
        finishing.arm_timeout(ctx, task.id)
    else:
        ctx.rec.emit("setup-failed", task.id, event.detail)
        finishing.complete(ctx, task.id, setup_failed(event.detail))


def on_node_done(ctx: RunContext, event: NodeDone) -> None:
    """The Ray path's own times join the task's ``timing`` event (``phases_ms``)."""
    task = ctx.book.tasks.get(event.task_id)
    if task is not None and task.attempt == event.attempt:
        ctx.rec.add_timings(task.id, event.phases)


def on_node_lost(ctx: RunContext, event: NodeLost) -> None:
    then = "runs again on another node" if event.retrying else "no retry left ([ray] max_retries)"
    ctx.rec.emit("node-lost", event.task_id, f"node {event.node} died: {event.detail}; {then}",
                 node=event.node, attempt=event.attempt, retrying=event.retrying)  # fmt: skip


def on_cluster_lost(ctx: RunContext, event: ClusterLost) -> None:
    if ctx.stopping:
        return
    ctx.rec.emit("warning", None, f"the Ray cluster cannot be reached ({event.detail}): "
                 "stopping as on Ctrl-C; finished work is kept, `run` again resumes")  # fmt: skip
    interrupts.request_stop(ctx)
