"""Driving the ``Engine`` directly: a real repository, real store, real agents, no CLI.

``EngineRun`` prepares what ``coordinator.engine.runner`` would (target branch, store rows) and
runs the engine on a thread of its own, so a test can watch it through a reporter that keeps
every event and every table and lets the test wait for one (an event, not a sleep).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from coordinator.engine.loop import Engine
from coordinator.io.gitrepo import GitRepo
from coordinator.io.runfiles import new_run_id, store_path
from coordinator.io.store import Store
from coordinator.io.worktrees import ensure_excluded
from coordinator.project import load_project
from coordinator.ui.display import RunEvent, RunSummary, TaskRow

AGENTS = Path(__file__).resolve().parents[1] / "agents"
SCRIPTED = AGENTS / "scripted.py"
TARGET = "coordinator/integration"
WAIT = 60.0  # generous: a broken engine fails the test instead of hanging it


def config(*, instances: int = 1, grace: str = "1s", extra: str = "") -> str:
    command = json.dumps(["{python}", str(SCRIPTED), "{prompt_file}"])
    return (
        f'instances = {instances}\ngrace = "{grace}"\nfootprint = "declared"\n\n'
        f'[agents.fake]\ncommand = {command}\ntimeout = "60s"\n{extra}'
    )


def gate_argv(started: Path, release: Path) -> list[str]:
    """A merge gate that notes each start in ``started`` (a line each) and waits for
    ``release`` to exist before it passes."""
    script = (
        "import os, pathlib, sys, time\n"
        "started, release = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])\n"
        "with started.open('a') as out: out.write(f'{os.getpid()}\\n')\n"
        "deadline = time.monotonic() + 120\n"
        "while not release.exists() and time.monotonic() < deadline: time.sleep(0.01)\n"
    )
    return [sys.executable, "-c", script, str(started), str(release)]


def spec(root: Path, task_id: str, body: str, *, deps: Sequence[str] = ()) -> None:
    """A task owning ``<id>.txt``, driven by ``scripted.py`` directives in its body."""
    front = [f"id: {task_id}", "agent: fake", f'files: ["{task_id}.txt"]']
    if deps:
        front.append(f"depends_on: [{', '.join(deps)}]")
    path = root / "specs" / f"{task_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\n" + "\n".join(front) + "\n---\n" + body + "\n", encoding="utf-8")


@dataclass
class Watcher:
    """A reporter that keeps everything and wakes tests waiting for something to be seen."""

    events: list[RunEvent] = field(default_factory=list)
    rows: list[list[TaskRow]] = field(default_factory=list)
    summaries: list[RunSummary] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def start(self, run_id: str, target: str, total: int) -> None:
        pass

    def event(self, event: RunEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def update(self, rows: Sequence[TaskRow]) -> None:
        with self._changed:
            self.rows.append(list(rows))
            self._changed.notify_all()

    def summary(self, summary: RunSummary) -> None:
        self.summaries.append(summary)

    def close(self) -> None:
        pass

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = WAIT) -> None:
        """Block until ``check()`` holds, re-checked on every event and display update."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not check():
                left = deadline - time.monotonic()
                assert left > 0, f"{what} never happened; events: {self.kinds()}"
                self._changed.wait(left)

    def seen(self, kind: str, task_id: str) -> bool:
        return any(e.kind == kind and e.task_id == task_id for e in self.events)

    def index(self, kind: str, task_id: str) -> int:
        return next(i for i, e in enumerate(self.events) if (e.kind, e.task_id) == (kind, task_id))

    def state(self, task_id: str) -> str | None:
        """The task's state in the latest table the engine drew."""
        for row in self.rows[-1] if self.rows else []:
            if row.id == task_id:
                return row.state
        return None

    def kinds(self) -> list[tuple[str, str | None]]:
        return [(e.kind, e.task_id) for e in self.events]


class EngineRun:
    """One engine run on ``root``'s specs, on its own thread."""

    def __init__(self, root: Path, *, instances: int = 1) -> None:
        self.watcher = Watcher()
        self.repo = GitRepo.discover(root)
        project = load_project(root)
        if self.repo.rev_parse(f"refs/heads/{TARGET}") is None:
            head = self.repo.rev_parse("HEAD")
            assert head is not None
            self.repo.create_branch(TARGET, head)
        ensure_excluded(self.repo, project.config.worktrees)
        plan = project.plan()  # no simulated ranking: tasks start in spec order (a, b, c...)
        self.store = Store(store_path(self.repo.git_dir))
        self.run_id = new_run_id(time.time())
        self.store.create_run(
            self.run_id, target=TARGET, base="", instances=instances, started_at=time.time()
        )
        for task in plan.tasks:
            self.store.upsert_task(self.run_id, task.id, agent=task.agent, state="pending")
        self.engine = Engine(
            project, plan, self.repo, self.store, self.watcher, run_id=self.run_id,
            target=TARGET, instances=instances,
        )  # fmt: skip
        self.summary: RunSummary | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="engine-under-test")

    def _run(self) -> None:
        try:
            self.summary = self.engine.run()
        except BaseException as exc:
            self.error = exc

    def start(self) -> EngineRun:
        self._thread.start()
        return self

    def join(self, timeout: float = WAIT) -> RunSummary:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the engine did not finish"
        if self.error is not None:
            raise self.error
        assert self.summary is not None
        self.store.close()
        self.repo.close()
        return self.summary

    def stored_state(self, task_id: str) -> str:
        """What ``coordinator status`` reads for the task right now."""
        with Store.open_readonly(store_path(self.repo.git_dir)) as reader:
            states = {t.task_id: t.state for t in reader.tasks(self.run_id)}
        return states[task_id]
