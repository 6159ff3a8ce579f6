"""One task's record in a run: the fields the store keeps and what only the live run knows.

Kept apart from the ``TaskBook`` that changes it: the record is plain data every part of the
engine reads, the book is the one place that writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coordinator.core.decisions import Completion
from coordinator.core.models import TaskState
from coordinator.core.usage import Resources, Usage
from coordinator.io.agents import AgentProcess


@dataclass
class TaskRun:
    """What the run knows about one task. Stored fields mirror the store's task columns."""

    id: str
    agent: str
    state: TaskState = TaskState.PENDING
    attempt: int = 0
    reason: str = ""
    branch: str | None = None
    worktree: str | None = None
    base: str | None = None
    log: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    merged_at: float | None = None
    merge_commit: str | None = None
    summary: str = ""
    changed_files: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    agent_time: float = 0.0
    slot: int | None = None
    port: int | None = None
    placed: list[str] = field(default_factory=list)  # files copied or linked in: not committed
    node: str | None = None  # the Ray node the agent runs on (None: this machine)
    # live only: the agent's process, how its work ended, and the commit holding that work
    proc: AgentProcess | None = None
    completion: Completion | None = None
    exited: bool = False
    timeout_at: float | None = None  # when the agent times out; a remote one's clock restarts
    head: str = ""
    usage: Usage = field(default_factory=Usage)  # every attempt's, added up
    resources: Resources = field(default_factory=Resources)  # highest peak, CPU added up
    failures: int = 0  # attempts whose agent failed and that were retried
    conflicts: int = 0  # merges that conflicted and were retried
    retrying: bool = False  # this attempt failed and the task runs again
    attempt_open: bool = False  # an attempt row is in the store for this attempt

    @property
    def agent_running(self) -> bool:
        """Started and its work not over yet (it may still be alive after that, briefly)."""
        return self.proc is not None and self.completion is None
