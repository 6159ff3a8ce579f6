"""Where agents run, as the engine sees it: this machine (the default, ``start_agent``) or an
executor that runs them elsewhere (``executor = "ray"``: ``coordinator.io.rayexec``).

An executor is an adapter with the local path's shape: ``start`` returns an ``AgentProcess``
at once, and the outcome reaches the engine's queue as the local path's events do. Before
``AgentExited`` is put there, the agent's commits are in the task's local worktree, its
output in the task's log and its marker where the watcher looks: everything after the agent
(the footprint check, the gate, the merge, the store) happens on the coordinator's machine
exactly as for a local agent, and the coordinator stays the only writer of the target.
"""

from __future__ import annotations

import queue
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from coordinator.core.configtables import RayConfig
from coordinator.io.agents import AgentProcess
from coordinator.io.gitrepo import GitRepo
from coordinator.io.raynode import NodeJob


@dataclass(frozen=True)
class RemoteLaunch:
    """One attempt to run elsewhere: the node's job, and where its results land here."""

    job: NodeJob
    agent_type: str
    repo: GitRepo
    worktree: Path
    log: Path
    marker: Path
    scratch: Path  # a directory of the run for bundles on their way


@dataclass(frozen=True)
class NodeStarted:
    """A node took the task (``try_number`` counts the runs after a node died)."""

    task_id: str
    attempt: int
    node: str
    try_number: int


@dataclass(frozen=True)
class NodeLost:
    """The node running the task died; it runs again elsewhere while ``retrying``."""

    task_id: str
    attempt: int
    node: str
    detail: str
    retrying: bool


@dataclass(frozen=True)
class NodeSetup:
    """``[worktree] setup`` ran in the node's clone (``ok`` False: the task fails with it)."""

    task_id: str
    attempt: int
    ok: bool
    detail: str
    seconds: float


@dataclass(frozen=True)
class NodeDone:
    """Where a remote task's time went, in seconds, for its ``timing`` event: ``ray_bundle``
    (making the base bundle here), ``ray_dispatch`` (sent until a node had it), the node's own
    ``node_clone``, ``node_setup``, ``node_agent`` and ``node_collect``, and ``ray_apply``
    (its work fetched into the task's worktree here)."""

    task_id: str
    attempt: int
    phases: dict[str, float]


@dataclass(frozen=True)
class ClusterLost:
    """The cluster cannot be reached: the run stops as on Ctrl-C, and `run` again resumes."""

    detail: str


class Executor(Protocol):
    """Runs agents elsewhere; see the module docstring for what ``start`` promises."""

    def start(self, launch: RemoteLaunch, events: queue.SimpleQueue[object]) -> AgentProcess: ...

    def offers(self) -> dict[str, float]:
        """Agent types the cluster's nodes offer now -> how many at once, in all."""
        ...

    def close(self) -> None: ...


def open_executor(executor: str, ray: RayConfig, caps: Mapping[str, int],
                  source: str | None) -> Executor | None:  # fmt: skip
    """The run's executor: None runs agents on this machine; ``"ray"`` connects to the
    cluster (or starts a local Ray instance offering ``caps``, ``[ray] address = "local"``)."""
    if executor != "ray":
        return None
    from coordinator.io.rayexec import RayExecutor  # noqa: PLC0415 - Ray only when asked for

    return RayExecutor(ray, dict(caps), source)


def require(executor: str, source: str | None) -> None:
    """Refuse ``executor = "ray"`` without Ray installed, before anything is touched."""
    if executor == "ray":
        from coordinator.io.rayexec import ray_module  # noqa: PLC0415 - see open_executor

        ray_module(source)


def unoffered(executor: Executor, agent_types: Iterable[str]) -> list[str]:
    """The agent types no node of the cluster offers now (their tasks would wait)."""
    offers = executor.offers()
    return sorted(t for t in set(agent_types) if offers.get(t, 0) < 1)
