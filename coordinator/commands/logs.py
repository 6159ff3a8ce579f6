"""``coordinator logs TASK``: what a task's agent printed, from this or another terminal.

A task's output is in files under the run's directory: one log per attempt (the setup command's
output first, then the agent's, each between ``[coordinator] ----`` lines), the conflict
resolver's, and the merge gate runs that covered the task. A gate run writes into the log of its
group's last task (``<last>.verify.log``, appended run after run), so the store's ``gate-log``
events say which log and from which offset each run covering the task wrote. ``logs`` prints
the parts in that order, each under a header naming the part and its file; ``--follow`` keeps
printing what is appended (a retry's new log, a gate run when it starts) until the task has
ended, or the run is over. Only the store and the log files are read, so it works while a run
writes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from coordinator.core.models import TaskState
from coordinator.errors import InputError, Problem
from coordinator.io.gitrepo import GitRepo
from coordinator.io.lock import holder_alive
from coordinator.io.runfiles import RunFiles, lock_path, state_dir, store_path
from coordinator.io.store import NoRunsError, Store, TaskRecord

POLL = 0.1  # seconds between looks while following


@dataclass(frozen=True)
class Part:
    """One file of a task's output (or the slice of it from ``start`` to ``end``, None: to its
    end) and the header it is shown under."""

    title: str
    path: Path
    start: int = 0
    end: int | None = None


@dataclass(frozen=True)
class TaskLogs:
    task_id: str
    run_id: str
    parts: list[Part]
    ended: bool  # the task will write nothing more (or nobody is running it)


def find_run(store: Store, task_id: str, run_id: str | None) -> str:
    """The run asked for, or the newest run that has the task; bad input when there is none."""
    if run_id is not None:
        if store.run(run_id) is None:
            known = ", ".join(store.run_ids()[-5:]) or "none"
            raise InputError(Problem(None, "--run", f"no run {run_id!r}", f"known runs: {known}"))
        return run_id
    for candidate in reversed(store.run_ids()):
        if any(t.task_id == task_id for t in store.tasks(candidate)):
            return candidate
    raise InputError(
        Problem(None, "TASK", f"no run has a task {task_id!r}", "name a task from `status`")
    )


class GateRuns:
    """The merge gate runs of one run, read from its ``gate-log`` events as they come."""

    def __init__(self) -> None:
        self.seen = 0  # the last event id read
        self.runs: list[tuple[Path, int, tuple[str, ...]]] = []  # (log, offset, group)

    def read(self, store: Store, run_id: str) -> None:
        for event in store.events(run_id, since_id=self.seen):
            self.seen = event.id
            data = event.data
            if event.kind != "gate-log" or event.task_id != (data.get("group") or [None])[-1]:
                continue  # one entry per gate run (the event of its group's last task)
            group = tuple(str(t) for t in data.get("group") or ())
            self.runs.append((Path(str(data["log"])), int(data.get("offset") or 0), group))

    def parts(self, task_id: str) -> list[Part]:
        parts = []
        for log, offset, group in self.runs:
            if task_id not in group:
                continue
            later = [o for path, o, _ in self.runs if path == log and o > offset]
            of = "" if group == (task_id,) else f" of {'+'.join(group)}"
            parts.append(Part(f"{task_id}: merge gate{of}", log, offset, min(later, default=None)))
        return parts


def task_logs(
    git_dir: Path, store: Store, task_id: str, run_id: str, gates: GateRuns | None = None
) -> TaskLogs:
    """The parts of the task's output in ``run_id`` as they are now."""
    record = next((t for t in store.tasks(run_id) if t.task_id == task_id), None)
    if record is None:
        raise InputError(
            Problem(None, "TASK", f"run {run_id} has no task {task_id!r}", "see `status --run`")
        )
    files = RunFiles(state_dir(git_dir) / "runs" / run_id)
    last = max(1, record.attempt)
    node = f" on Ray node {record.node}" if record.node else ""  # the last attempt's node
    parts = [
        Part(f"{task_id} attempt {n}: setup and agent{node if n == last else ''}",
             files.log(task_id, n))
        for n in range(1, last + 1)
    ]  # fmt: skip
    parts.append(Part(f"{task_id}: conflict resolver", files.logs / f"{task_id}.resolve.log"))
    parts.append(Part(f"{task_id}: conflict resolver's merge gate",
                      files.logs / f"{task_id}.resolve.verify.log"))  # fmt: skip
    gates = gates or GateRuns()
    gates.read(store, run_id)
    gated = gates.parts(task_id)
    if not gates.runs:  # a run from before gate runs were recorded
        gated = [Part(f"{task_id}: merge gate", files.logs / f"{task_id}.verify.log")]
    parts.extend(gated)
    run = store.run(run_id)
    running = run is not None and run.state == "running" and holder_alive(lock_path(git_dir))
    return TaskLogs(task_id, run_id, parts, _ended(record) or not running)


def _ended(record: TaskRecord) -> bool:
    try:
        return TaskState(record.state).terminal
    except ValueError:
        return True


def show(path: Path | None, task_id: str, run_id: str | None, out: BinaryIO) -> int:
    """Print every part that exists; 0, or bad input (exit 2) for an unknown task or run."""
    with _opened(path) as (git_dir, store):
        run = find_run(store, task_id, run_id)
        logs = task_logs(git_dir, store, task_id, run)
    printed = _Printer(out)
    printed.catch_up(logs.parts)
    if not printed.any:
        out.write(f"no output yet for {task_id} in run {run}\n".encode())
    return 0


def follow(
    path: Path | None, task_id: str, run_id: str | None, out: BinaryIO,
    sleep: Callable[[float], None] = time.sleep,
) -> int:  # fmt: skip
    """Print what exists, then what is appended, until the task has ended."""
    with _opened(path) as (git_dir, store):
        run = find_run(store, task_id, run_id)
        printer, gates = _Printer(out), GateRuns()
        while True:
            logs = task_logs(git_dir, store, task_id, run, gates)
            printer.catch_up(logs.parts)
            if logs.ended:
                printer.catch_up(task_logs(git_dir, store, task_id, run, gates).parts)
                return 0
            sleep(POLL)


class _Printer:
    """Prints each part once under its header, then only what was appended since."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.offsets: dict[tuple[Path, int], int] = {}  # (file, start of the part) -> printed
        self.any = False

    def catch_up(self, parts: list[Part]) -> None:
        for part in parts:
            key = (part.path, part.start)
            try:
                size = part.path.stat().st_size
            except OSError:
                continue
            if part.end is not None:
                size = min(size, part.end)
            offset = self.offsets.get(key)
            if offset is None:
                if size <= part.start and part.start:
                    continue  # a gate run that has not written its header yet
                self.out.write(f"==> {part.title} ({part.path}) <==\n".encode())
                offset = part.start
                self.any = True
            if size < offset:  # rewritten: show it anew
                offset = part.start
            if size > offset:
                with part.path.open("rb") as handle:
                    handle.seek(offset)
                    data = handle.read(size - offset)
                self.out.write(data)
                offset += len(data)
            self.offsets[key] = offset
        self.out.flush()


class _opened:
    """The repository's git directory and its store, read-only; no store is ``NoRunsError``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path or Path.cwd()

    def __enter__(self) -> tuple[Path, Store]:
        with GitRepo.discover(self.path) as repo:
            self.git_dir = repo.git_dir
        db = store_path(self.git_dir)
        if not db.exists():
            raise NoRunsError.at(db)
        self.store = Store.open_readonly(db)
        return self.git_dir, self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()
