"""What the engine's handlers share: the run's doors, its task book, its flags and its timers.

The loop (``coordinator.engine.loop``) owns one ``RunContext`` and passes it to the handler
modules (``starting``, ``finishing``, ``merging``, ``ending``, ``interrupts``). Everything here
is touched by the loop thread only, except what is named thread-safe: the event queue, the
``hard`` flag, the gate switch and the locks that jobs take.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from coordinator.core.config import AgentConfig
from coordinator.core.decisions import Limits
from coordinator.core.mergequeue import MergeQueue
from coordinator.core.plan import Plan
from coordinator.core.refs import branch_ref, task_branch
from coordinator.engine.book import TaskBook
from coordinator.engine.jobs import GateSwitch, Jobs
from coordinator.engine.launch import Prompts
from coordinator.engine.recorder import Recorder
from coordinator.engine.recovery import Adopted
from coordinator.io.clones import Recorded
from coordinator.io.executor import Executor
from coordinator.io.gitrepo import GitRepo
from coordinator.io.guardindex import PrivateIndex
from coordinator.io.idlewatch import IdleWatch
from coordinator.io.markers import MarkerWatcher
from coordinator.io.resources import ResourceMeter
from coordinator.io.runfiles import RunFiles, state_dir
from coordinator.io.shared_state import LiveAgents, SharedState
from coordinator.io.store import Store
from coordinator.io.workcheck import CheckoutGuard
from coordinator.io.worktrees import Worktrees
from coordinator.project import Project

if TYPE_CHECKING:
    from coordinator.engine.gating import Round


@dataclass(frozen=True)
class Interrupt:
    """Ctrl-C or SIGTERM; ``hard`` is the second one: kill at once."""

    hard: bool


@dataclass(frozen=True)
class Timer:
    # "timeout", "settle", "retry" (a retry_delay is over), "tampered" (a change to shared
    # state pinned on the task), or "admission" (task_id "": look at the machine again)
    kind: str
    task_id: str
    attempt: int


@dataclass(frozen=True)
class GateStarted:
    """The merge gate's command started for ``task_id`` (from the merge lane's thread)."""

    task_id: str
    pid: int
    create_time: float | None


@dataclass(frozen=True)
class ResolverStarted:
    """A conflict resolver's process started for ``task_id`` (from its job's thread)."""

    task_id: str
    pid: int
    create_time: float | None


class RunContext:
    """One run's shared state; see the module docstring for who may touch what."""

    def __init__(
        self,
        project: Project,
        plan: Plan,
        repo: GitRepo,
        store: Store,
        rec: Recorder,
        book: TaskBook,
        *,
        run_id: str,
        target: str,
        adopt: Mapping[str, Adopted],
        instances: int = 1,
    ) -> None:
        self.project = project
        self.config = project.config
        self.executor: Executor | None = None  # agents run elsewhere (None: on this machine)
        self.plan = plan
        self.repo = repo
        self.store = store
        self.rec = rec
        self.book = book
        self.run_id = run_id
        self.target = target
        self.target_ref = branch_ref(target)
        self.events: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.files = RunFiles.create(repo.git_dir, run_id)
        self.prompts = Prompts(project, repo, target)
        self.attributes = self.files.union_attributes(self.config.overlap.union)
        self.idle = IdleWatch()  # large pooled worktrees, watched while idle: stopped at the end
        self.worktrees = Worktrees(repo, self.config.worktrees,
                                   pool_size=self.config.pool_size(instances),
                                   reuse_ignored=self.config.reuse_ignored,
                                   idle=self.idle)  # fmt: skip
        self.watcher = MarkerWatcher(self.files.markers, self.events)  # type: ignore[arg-type]
        self.jobs = Jobs(self.events)
        self.gate = GateSwitch()
        self.hard = threading.Event()  # a second Ctrl-C: set from any thread
        self.stopping = False  # a first Ctrl-C: nothing new starts
        self.adopt = dict(adopt)
        self.admission = ""  # why new starts are held back, "" when they are not
        self.admission_timer = False  # a look at the machine is scheduled
        config = self.config
        self.limits = Limits(config.min_free_disk, config.min_free_memory, config.max_load)
        self.budget = ""  # why nothing more starts: the run's budget is used up ("" while not)
        self.meter = ResourceMeter()  # thread-safe: agents' memory and CPU, sampled
        self.setups: dict[str, GateSwitch] = {}  # setup commands running, killable from anywhere
        self.retry_waiting: dict[str, tuple[str, str]] = {}  # task -> (kept branch, reason)
        self.notify_problems: list[str] = []  # appended by the notify thread, drained by the loop
        self.max_parallel = 0
        self.checkout = CheckoutGuard(repo, private=PrivateIndex.of(repo.git_dir))
        self.checkout.snapshot()
        self.checkout_lock = threading.Lock()  # CheckoutGuard keeps its last snapshot
        self.live = LiveAgents()  # thread-safe: whose agents may be writing right now
        self.shared = SharedState(
            repo, run_id=run_id, target_ref=self.target_ref, live=self.live,
            quarantine=state_dir(repo.git_dir) / "quarantine",
        )  # fmt: skip
        self.at_rest: dict[str, str] = {}  # refs no step of this run writes any more -> value
        self.task_refs = frozenset(branch_ref(task_branch(t.id)) for t in plan.tasks)
        self.clone_records: dict[str, Recorded] = {}  # task clone -> its guarded files as made
        self.timers: list[tuple[float, int, Timer]] = []
        # the merge queue (with a gate): its rules, the round in flight, the last batch failure
        merge = self.config.merge
        self.queue = MergeQueue(parallel=merge.parallel or self.config.instances, batch=merge.batch)
        self.merge_round: Round | None = None
        self.last_gate_reason = ""
        self.queue_published: dict[str, Any] = {}  # the queue's document last written

        self._seq = itertools.count()

    def add_timer(self, deadline: float, timer: Timer) -> None:
        heapq.heappush(self.timers, (deadline, next(self._seq), timer))

    def agent_config(self, task_id: str) -> AgentConfig:
        return self.config.agents[self.plan.task(task_id).agent]
