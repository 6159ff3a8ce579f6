"""A run (or a plan) as one self-contained HTML page: timeline, DAG, tasks and events.

``write_run_report`` is what ``coordinator report``, ``run --report`` and the daemon call;
``plan_page`` is ``plan --format html``. The parts: ``gather`` reads the store, git and the
specs (I/O); ``model`` and ``layout``/``timeline`` arrange that into plain data (pure);
``page`` wraps the data, the styles and the script into the HTML text (pure).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from coordinator.core.plan import Plan
from coordinator.core.simulate import Schedule
from coordinator.errors import CoordinatorError, InputError, Problem
from coordinator.io.gitrepo import GitRepo
from coordinator.io.runfiles import state_dir
from coordinator.report.gather import read_run
from coordinator.report.model import plan_data, run_data
from coordinator.report.page import render_page

REPORT_NAME = "report.html"
KEEP_REPORTS = 50  # the daemon keeps the reports of this many most recent runs
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def report_path(git_dir: Path, run_id: str) -> Path:
    """Where a run's report goes by default: beside its logs, ``runs/<run>/report.html``."""
    if not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise InputError(Problem(None, "--run", f"{run_id!r} is not a run id", "see status"))
    return state_dir(git_dir) / "runs" / run_id / REPORT_NAME


def run_page(path: Path | None = None, run_id: str | None = None) -> tuple[str, str]:
    """The report of ``run_id`` (default: the last run) as HTML text, and the run's id."""
    with GitRepo.discover(path or Path.cwd()) as repo:
        facts = read_run(repo, run_id)
    data = run_data(facts)
    return render_page(data, f"coordinator run {facts.run.run_id}"), facts.run.run_id


def write_run_report(
    path: Path | None = None, run_id: str | None = None, output: Path | None = None
) -> Path:
    """Write the report of a run (default: the last) and return where it went.

    ``output`` defaults to ``report_path``; its directory is created when missing. The file is
    replaced in one step, so a browser (or a mail) never sees half a report.
    """
    with GitRepo.discover(path or Path.cwd()) as repo:
        git_dir = repo.git_dir
    text, run = run_page(path, run_id)
    target = output if output is not None else report_path(git_dir, run)
    try:
        write_atomically(target, text)
    except OSError as exc:
        problem = f"cannot write {target}: {exc.strerror or exc}"
        if output is not None:
            raise InputError(Problem(None, "--output", problem, "name a writable file")) from exc
        raise CoordinatorError(f"no report: {problem}") from exc
    return target


def plan_page(plan: Plan, schedule: Schedule, instances: int) -> str:
    """``plan --format html``: the DAG and the simulated schedule, before anything runs."""
    title = f"coordinator plan ({len(plan.tasks)} tasks)"
    return render_page(plan_data(plan, schedule, instances), title)


def write_atomically(target: Path, text: str) -> None:
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def prune_reports(git_dir: Path, keep: int = KEEP_REPORTS) -> list[Path]:
    """Delete the default-place reports of all but the ``keep`` most recent runs.

    Run ids sort by their start time, so the newest are the last in name order. Only files
    named ``report.html`` directly in a run's directory are touched; logs stay.
    """
    runs = state_dir(git_dir) / "runs"
    if not runs.is_dir():
        return []
    reports = sorted(p for p in runs.glob(f"*/{REPORT_NAME}") if p.is_file())
    removed = reports[: max(0, len(reports) - keep)]
    gone = []
    for report in removed:
        try:
            report.unlink(missing_ok=True)
        except OSError:
            continue  # a report that cannot go now goes with a later cycle
        gone.append(report)
    return gone
