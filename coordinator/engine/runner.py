"""``coordinator run`` as a library call: lock, load, plan, prepare the target, run the engine."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from coordinator.core.branchnames import branch_problem
from coordinator.core.estimates import DurationHistory
from coordinator.core.footprint import violations as footprint_violations
from coordinator.core.models import TaskSpec
from coordinator.core.plan import Plan
from coordinator.core.planner import build_plan
from coordinator.core.refs import branch_ref
from coordinator.core.slots import ports_problem
from coordinator.core.text import every, plural
from coordinator.engine.loop import Engine
from coordinator.engine.recovery import Recovery, close_cut_off, hand_over, recover
from coordinator.engine.stopping import StopRequest
from coordinator.errors import EXIT_OK, CoordinatorError, InputError, Problem
from coordinator.io import executor as executors
from coordinator.io import sandbox
from coordinator.io.faults import crash_point
from coordinator.io.gitrepo import GitRepo
from coordinator.io.history import merged_ids, task_history, up_to_date
from coordinator.io.lock import RepoLock
from coordinator.io.overview import (
    CHANGED,
    MERGED,
    ORDER,
    REVERTED,
    TaskView,
    task_overview,
)
from coordinator.io.pastattempts import past_attempts
from coordinator.io.programs import program_problems
from coordinator.io.runfiles import lock_path, new_run_id, store_path
from coordinator.io.store import Store
from coordinator.io.workcheck import uncommitted_paths
from coordinator.io.worktrees import Worktrees, ensure_excluded
from coordinator.project import Project, load_project
from coordinator.report import write_run_report
from coordinator.ui.display import Reporter, RunSummary


@dataclass(frozen=True)
class RunRequest:
    """Everything ``coordinator run`` accepts, as plain values."""

    path: Path | None = None
    instances: int | None = None
    target: str | None = None
    base: str | None = None
    only: Sequence[str] = ()
    changed_only: bool = False  # the daemon's rule: rerun merged tasks whose spec changed
    report: bool = False  # write the HTML report of the run when it ends (``run --report``)


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    message: str
    summary: RunSummary | None = None
    report: Path | None = None  # the HTML report written, with ``RunRequest.report``


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


def nothing_to_do(views: Sequence[TaskView], only: Sequence[str], target: str) -> str:
    """What is the case when nothing is left to run: the named tasks are merged, and every
    other task that is not is counted by state, so "all merged" is only said when true."""
    landed = {MERGED, CHANGED}
    if only:
        named = [v.id for v in views if v.id in only]
        head = f"nothing to do: {_and(named)} {'is' if len(named) == 1 else 'are'} already merged"
        rest = [v for v in views if v.id not in only and v.state not in landed]
        text = f"{head} into {target}"
        if rest:
            by_state: dict[str, list[str]] = {}
            for view in sorted(rest, key=lambda v: _rank(v.state)):
                by_state.setdefault(view.state, []).append(view.id)
            states = "; ".join(f"{len(ids)} {state.replace('-', ' ')}: {', '.join(ids)}"
                               for state, ids in by_state.items())  # fmt: skip
            other = plural(len(rest), "other task")
            text += f"; {other} {'is' if len(rest) == 1 else 'are'} not merged ({states})"
        return text
    reverted = [v.id for v in views if v.state == REVERTED]
    merged = len(views) - len(reverted)
    if not reverted:
        return f"nothing to do: {every(merged)} already merged into {target}"
    return (
        f"nothing to do: {plural(merged, 'task')} merged into {target} and "
        f"{len(reverted)} reverted ({', '.join(reverted)}; `run --only ID` runs one again)"
    )


DIRTY_SHOWN = 10  # files named in the dirty-checkout warning; the rest are counted


def dirty_checkout_warning(
    plan: Plan, dirty: Sequence[str], target: str, head: str
) -> tuple[str, list[str]] | None:
    """One warning when uncommitted files of the user's checkout are ones tasks will change:
    tasks start from the target's commits and never see them. Tasks of unknown footprint
    (which may touch anything) do not make every stray file a warning."""
    if not dirty:
        return None
    hits: dict[str, list[str]] = {}
    for task in plan.tasks:
        if task.footprint.exclusive or not task.footprint.claims:
            continue
        outside = set(footprint_violations(task.footprint, dirty))
        for path in dirty:
            if path not in outside:
                hits.setdefault(path, []).append(task.id)
    if not hits:
        return None
    paths = sorted(hits)
    shown = ", ".join(f"{p} ({', '.join(hits[p])})" for p in paths[:DIRTY_SHOWN])
    if len(paths) > DIRTY_SHOWN:
        shown += f" and {len(paths) - DIRTY_SHOWN} more"
    text = (
        f"uncommitted changes in your checkout to {plural(len(paths), 'file')} tasks will "
        f"change: {shown}; tasks start from {target} ({head[:12]}) without them (commit them "
        "first if the tasks need them)"
    )
    return text, paths


def _rank(state: str) -> int:
    return ORDER.index(state) if state in ORDER else len(ORDER)


def _and(ids: Sequence[str]) -> str:
    return ids[0] if len(ids) == 1 else f"{', '.join(ids[:-1])} and {ids[-1]}"


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
    whole = build_plan(probe.specs, config, probe.repo_paths)
    # With executor = "ray" the sandbox is made on the nodes (one without bwrap fails its task).
    if config.executor != "ray" and any(task.isolation == "sandbox" for task in whole.tasks):
        sandbox.require(probe.config_source)
    executors.require(config.executor, probe.config_source)
    ports = config.worktree
    if problem := ports_problem(ports.port_base, ports.port_stride, instances):
        raise InputError(Problem(None, "--instances", problem, "fewer instances, or [worktree] "
                                 "port_base/port_stride that fit"))  # fmt: skip
    held = (
        lock
        or RepoLock(lock_path(probe.git_dir), "daemon" if request.changed_only else "run").acquire()
    )
    try:
        with GitRepo.discover(probe.root) as repo:
            result = _run_locked(probe, repo, request, reporter, target, instances, held, stop)
    finally:
        if lock is None:
            held.release()
    return _with_report(probe.root, result) if request.report else result


def _with_report(root: Path, result: RunResult) -> RunResult:
    """Write the run's HTML report; one that cannot be written is said, never fails the run."""
    if result.summary is None:
        return result  # nothing ran
    try:
        path = write_run_report(root, result.summary.run_id)
    except (OSError, CoordinatorError) as exc:
        why = str(exc) if isinstance(exc, CoordinatorError) else f"no report: {exc}"
        note = f"warning: {why}"
        return dataclasses.replace(result, message="\n".join(filter(None, [result.message, note])))
    return dataclasses.replace(result, report=path)


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
    target_ref = branch_ref(target)
    records = task_history(repo, target)
    if request.changed_only:
        skip = up_to_date(records, {s.id: s.digest for s in probe.specs})
    else:
        # A reverted task stays reverted unless the user names it with --only.
        reverted = {t for t, r in records.items() if r.reverted and t not in request.only}
        skip = set(merged_ids(records)) | reverted
    specs = select(probe.specs, request.only, skip)
    agents = {s.agent for s in specs}
    if missing := program_problems(probe.config, probe.config_source, agents, probe.root,
                                   probe.repo_paths):  # fmt: skip
        raise InputError(missing)
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
            Worktrees(repo, probe.config.worktrees, pool_size=probe.config.pool_size(instances)),
            merged=set(merged_ids(records)),
            identity=probe.config.identity,
        )
        if recovery.cut_off:
            crash_point("after-recovery")
        notes = [*recovery.notes, *filter(None, [lock.stale_note()])]
        if not specs:
            close_cut_off(store, recovery, time.time())
            views = task_overview(repo, probe.specs, target)
            done = nothing_to_do(views, request.only, target)
            return RunResult(EXIT_OK, "\n".join([*notes, done]))
        ensure_excluded(repo, probe.config.worktrees)
        # Footprints are predicted against the target as it is now: that is where tasks start.
        project = load_project(probe.root, target=target)
        caps = {name: project.config.agent_cap(name, instances) for name in project.config.agents}
        plan = build_plan(specs, project.config, project.repo_paths, instances=instances,
                          caps=caps, predictor=project.predictor,
                          history=DurationHistory.of(past_attempts(store)))  # fmt: skip
        executor = executors.open_executor(project.config.executor, project.config.ray, caps,
                                           project.config_source)  # fmt: skip
        try:
            summary = _engine_run(project, plan, repo, store, reporter, target, instances,
                                  recovery, request, stop, notes, executor)  # fmt: skip
        finally:
            if executor is not None:
                executor.close()
    return RunResult(summary.exit_code, "", summary)


def _engine_run(
    project: Project, plan: Plan, repo: GitRepo, store: Store, reporter: Reporter, target: str,
    instances: int, recovery: Recovery, request: RunRequest, stop: StopRequest | None,
    notes: list[str], executor: executors.Executor | None,
) -> RunSummary:  # fmt: skip
    """Record the run and its tasks, then run the engine over them."""
    run_id = new_run_id(time.time())
    head = repo.rev_parse(branch_ref(target)) or ""
    adopt = {k: v for k, v in recovery.adopt.items() if k in plan.ids}
    isolation = {task.id: task.isolation for task in plan.tasks}
    with store.transaction():  # the new run and the hand-over: all of it or nothing
        store.create_run(run_id, target=target, base=head, instances=instances,
                         started_at=time.time(), options={"only": list(request.only),
                         "instances": instances, "isolation": isolation})  # fmt: skip
        for task in plan.tasks:
            store.upsert_task(run_id, task.id, agent=task.agent, state="pending", attempt=0,
                              predicted_files=list(task.footprint.patterns),
                              spec_digest=task.spec.digest)  # fmt: skip
        hand_over(store, recovery, run_id, adopt, time.time())
    crash_point("run-handed-over")
    engine = Engine(
        project, plan, repo, store, reporter, run_id=run_id, target=target, instances=instances,
        adopt=adopt, stop=stop, executor=executor,
    )  # fmt: skip
    engine.rec.notes.extend(notes)
    if warning := dirty_checkout_warning(plan, uncommitted_paths(repo), target, head):
        engine.rec.emit("warning", None, warning[0], paths=warning[1])
    if executor is not None:
        wt = project.config.worktree
        if wt.copy_files or wt.link:
            engine.rec.emit("warning", None, "[worktree] copy and link act on this "
                            "machine's worktree, not on the Ray nodes")  # fmt: skip
        for agent_type in executors.unoffered(executor, (t.agent for t in plan.tasks)):
            engine.rec.emit("warning", None, f"no node of the Ray cluster offers "
                            f"agent:{agent_type} now; its tasks wait for one")  # fmt: skip
    return engine.run()
