"""``coordinator run`` as a library call: lock, load, plan, prepare the target, run the engine."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from coordinator.core.config import branch_problem
from coordinator.core.models import TaskSpec
from coordinator.core.planner import build_plan
from coordinator.display import Reporter, RunSummary
from coordinator.engine import Engine
from coordinator.errors import EXIT_OK, InputError, Problem
from coordinator.history import merged_ids, task_history, up_to_date
from coordinator.io.gitrepo import GitRepo
from coordinator.io.lock import RepoLock
from coordinator.io.store import Store
from coordinator.io.worktrees import Worktrees, ensure_excluded
from coordinator.project import Project, load_project
from coordinator.recovery import recover
from coordinator.runfiles import lock_path, new_run_id, store_path
from coordinator.stopping import StopRequest


@dataclass(frozen=True)
class RunRequest:
    """Everything ``coordinator run`` accepts, as plain values."""

    path: Path | None = None
    instances: int | None = None
    target: str | None = None
    base: str | None = None
    only: Sequence[str] = ()
    changed_only: bool = False  # the daemon's rule: rerun merged tasks whose spec changed


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    message: str
    summary: RunSummary | None = None


def select(specs: Sequence[TaskSpec], only: Sequence[str], merged: set[str]) -> list[TaskSpec]:
    """The tasks to run: not merged yet, limited to ``only`` plus their unmerged dependencies.

    Dependencies that are already merged are dropped from ``depends_on`` so the sub-plan is
    self-contained; the merge trailer on the target proves they landed.
    """
    by_id = {s.id: s for s in specs}
    unknown = [i for i in only if i not in by_id]
    if unknown:
        raise InputError(
            [
                Problem(None, "--only", f"unknown task {i!r}", "name a task id from plan")
                for i in unknown
            ]
        )
    wanted: set[str] = set()
    stack = list(only) if only else list(by_id)
    while stack:
        task_id = stack.pop()
        if task_id in wanted or task_id in merged:
            continue
        wanted.add(task_id)
        stack.extend(d for d in by_id[task_id].depends_on if d in by_id)
    return [
        dataclasses.replace(s, depends_on=tuple(d for d in s.depends_on if d in wanted))
        for s in specs
        if s.id in wanted
    ]


def _check_target(repo: GitRepo, target: str) -> None:
    """A valid branch name, not one of ours, and not checked out anywhere (merges move it
    without touching files)."""
    problem = branch_problem(target)
    if problem:
        raise InputError(Problem(None, "--target", f"{target!r}: {problem}", "e.g. agents/work"))
    for info in repo.worktree_list():
        if info.branch == target:
            raise InputError(
                Problem(
                    None,
                    "target",
                    f"{target} is checked out in {info.path}",
                    "switch that checkout to another branch; the coordinator moves the target "
                    "itself and never touches a working tree",
                )
            )


def run(
    request: RunRequest,
    reporter: Reporter,
    *,
    lock: RepoLock | None = None,
    stop: StopRequest | None = None,
) -> RunResult:
    """Run every unmerged task of the project; see ``Engine`` for how.

    ``lock`` is the repository lock when the caller (the watching daemon) already holds it.
    ``stop`` lets another thread stop the run as Ctrl-C would (needed off the main thread,
    where no signal handler can be installed).
    """
    probe = load_project(request.path, target=request.target, base=request.base)
    config = probe.config
    target = request.target or config.target
    instances = request.instances or config.instances
    # Validate the whole project before touching anything: bad input changes nothing.
    build_plan(probe.specs, config, probe.repo_paths)
    held = (
        lock
        or RepoLock(lock_path(probe.git_dir), "daemon" if request.changed_only else "run").acquire()
    )
    try:
        with GitRepo.discover(probe.root) as repo:
            return _run_locked(probe, repo, request, reporter, target, instances, held, stop)
    finally:
        if lock is None:
            held.release()


def _run_locked(
    probe: Project,
    repo: GitRepo,
    request: RunRequest,
    reporter: Reporter,
    target: str,
    instances: int,
    lock: RepoLock,
    stop: StopRequest | None,
) -> RunResult:
    target_ref = f"refs/heads/{target}"
    records = task_history(repo, target)
    if request.changed_only:
        skip = up_to_date(records, {s.id: s.digest for s in probe.specs})
    else:
        # A reverted task stays reverted unless the user names it with --only.
        reverted = {t for t, r in records.items() if r.reverted and t not in request.only}
        skip = set(merged_ids(records)) | reverted
    specs = select(probe.specs, request.only, skip)
    _check_target(repo, target)
    if repo.rev_parse(target_ref) is None:
        base = repo.rev_parse(request.base or "HEAD")
        if base is None:
            raise InputError(
                Problem(
                    None,
                    "--base",
                    f"{request.base or 'HEAD'} is not a commit",
                    "commit something first, or pass --base REV",
                )
            )
        repo.create_branch(target, base)
    with Store(store_path(repo.git_dir)) as store:
        # Reconcile a run that was cut off before anything else, even when nothing is left to
        # run: its agents must die and its records close whatever the next step is.
        recovery = recover(
            repo,
            store,
            Worktrees(repo, probe.config.worktrees),
            merged=set(merged_ids(records)),
            identity=probe.config.identity,
        )
        notes = [*recovery.notes, *filter(None, [lock.stale_note()])]
        if not specs:
            done = f"nothing to do: all {len(probe.specs)} tasks are already merged into {target}"
            return RunResult(EXIT_OK, "\n".join([*notes, done]))
        ensure_excluded(repo, probe.config.worktrees)
        # Footprints are predicted against the target as it is now: that is where tasks start.
        project = load_project(probe.root, target=target)
        caps = {name: project.config.agent_cap(name) for name in project.config.agents}
        plan = build_plan(
            specs,
            project.config,
            project.repo_paths,
            instances=instances,
            caps=caps,
            history=project.history,
        )
        run_id = new_run_id(time.time())
        head = repo.rev_parse(target_ref) or ""
        store.create_run(
            run_id,
            target=target,
            base=head,
            instances=instances,
            started_at=time.time(),
            options={"only": list(request.only), "instances": instances},
        )
        with store.transaction():
            for task in plan.tasks:
                store.upsert_task(
                    run_id,
                    task.id,
                    agent=task.agent,
                    state="pending",
                    attempt=0,
                    predicted_files=list(task.footprint.patterns),
                    spec_digest=task.spec.digest,
                )
        engine = Engine(
            project,
            plan,
            repo,
            store,
            reporter,
            run_id=run_id,
            target=target,
            instances=instances,
            already_merged={},
            adopt={k: v for k, v in recovery.adopt.items() if k in plan.ids},
            stop=stop,
        )
        engine.rec.notes.extend(notes)
        summary = engine.run()
    return RunResult(summary.exit_code, "", summary)
