"""The command line: parse arguments, call the library, map errors to exit codes.

Nothing here decides anything the library could not decide on its own; every command is a thin
function over a library call so that Python users get the same behaviour.
"""

from __future__ import annotations

import json
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console

from coordinator import __version__
from coordinator.cli_cron import cron
from coordinator.cli_options import (
    STATUS_JSON_HELP,
    TASKS_JSON_HELP,
    repo_before_command,
    repo_option,
)
from coordinator.commands.clean import clean as clean_repo
from coordinator.commands.daemon import cycle as daemon_cycle
from coordinator.commands.daemon_watch import watch as daemon_watch
from coordinator.commands.init import init_project
from coordinator.commands.land import land as land_target
from coordinator.commands.land import revert as revert_task
from coordinator.commands.logs import follow as follow_logs
from coordinator.commands.logs import show as show_logs
from coordinator.commands.plan import plan_project, show_plan
from coordinator.commands.review import (
    landed,
    render_markdown,
    review_target,
    store_summaries,
    store_usage,
)
from coordinator.commands.review import render_text as render_review
from coordinator.commands.review_unlanded import with_unlanded
from coordinator.commands.status import read_status, show_status
from coordinator.commands.tasks import read_tasks, render_tasks
from coordinator.commands.validate import validate as validate_project
from coordinator.core.refs import branch_ref
from coordinator.engine.runner import RunRequest, RunResult
from coordinator.engine.runner import run as run_project
from coordinator.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, CoordinatorError, InputError
from coordinator.project import check_target, repo_root
from coordinator.report import run_page, write_run_report
from coordinator.ui.display import Reporter, make_reporter
from coordinator.ui.plan_output import DEFAULT_ROWS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="coordinator")
@repo_before_command
def cli() -> None:
    """Run many coding agents on one git repository at once, each in its own worktree."""


@cli.command()
@repo_option
@click.option("--instances", "-n", type=click.IntRange(min=1), help="Agents at once (config).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "dot", "mermaid", "html"]),
    default="text",
    show_default=True,
)
@click.option("--base", help="Revision to predict footprints against (default: target or HEAD).")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=DEFAULT_ROWS,
    show_default=True,
    help="Rows per table in the text format; 0 shows all.",
)
@click.option(
    "--all", "everything", is_flag=True, help="Plan every task, also those already merged."
)
def plan(
    repo_path: Path | None,
    instances: int | None,
    fmt: str,
    base: str | None,
    limit: int,
    everything: bool,
) -> None:
    """Show what is left to run: tasks, footprints, conflicts, critical path, a schedule."""
    view = plan_project(repo_path, base=base, instances=instances, everything=everything)
    show_plan(view, fmt, sys.stdout, limit=limit)


@cli.command()
@repo_option
def validate(repo_path: Path | None) -> None:
    """Check config, specs and agent programs; exit 0, or 2 listing every problem (for CI)."""
    result = validate_project(repo_path)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(result.line())


@cli.command()
@repo_option
def init(repo_path: Path | None) -> None:
    """Write a starter coordinator.toml and specs/example.md (never overwrites)."""
    for line in init_project(repo_path or Path.cwd()):
        click.echo(line)


@cli.command()
@repo_option
@click.option("--instances", "-n", type=click.IntRange(min=1), help="Agents at once (config).")
@click.option("--target", help="Branch results merge into (config: coordinator/integration).")
@click.option("--base", help="Where the target starts when it does not exist yet (HEAD).")
@click.option(
    "--only",
    multiple=True,
    metavar="ID",
    help="Run only these tasks (and their unmerged dependencies): --only a b, --only a --only b.",
)
@click.option("--json", "json_lines", is_flag=True, help="Print JSON lines events.")
@click.option("--report", "html_report", is_flag=True, help="Write the HTML report at the end.")
@click.argument("more_ids", nargs=-1, metavar="")
def run(
    repo_path: Path | None,
    instances: int | None,
    target: str | None,
    base: str | None,
    only: tuple[str, ...],
    json_lines: bool,
    html_report: bool,
    more_ids: tuple[str, ...],
) -> int:
    """Run every unmerged task, each in its own worktree, and merge the results."""
    if more_ids and not only:
        raise click.UsageError(
            f"unexpected argument {more_ids[0]!r}: name tasks after --only, as in --only a b"
        )
    request = RunRequest(repo_path, instances, target, base, (*only, *more_ids), report=html_report)
    return _report(lambda reporter: run_project(request, reporter), json_lines)


@cli.command()
@repo_option
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help=STATUS_JSON_HELP,
)
@click.option("--run", "run_id", help="A run id (default: the last run).")
def status(repo_path: Path | None, as_json: bool, run_id: str | None) -> int:
    """Show the last (or given) run: every task's state, branch, worktree and log."""
    data = read_status(repo_path, run_id)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        show_status(Console(), data, repo_path)
    return 0


@cli.command()
@repo_option
@click.argument("task")
@click.option("--run", "run_id", help="A run id (default: the last run that has the task).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the task has ended.")
def logs(repo_path: Path | None, task: str, run_id: str | None, follow: bool) -> int:
    """Print a task's output: setup and agent (each attempt), then the merge gate."""
    out = sys.stdout.buffer
    if follow:
        return follow_logs(repo_path, task, run_id, out)
    return show_logs(repo_path, task, run_id, out)


@cli.command()
@repo_option
@click.option("--run", "run_id", help="A run id (default: the last run).")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (default .git/coordinator/runs/<run>/report.html); - for stdout.",
)
def report(repo_path: Path | None, run_id: str | None, output: Path | None) -> int:
    """Write a run's self-contained HTML report (timeline, DAG, tasks, events); print its path."""
    if output is not None and str(output) == "-":
        text, _ = run_page(repo_path, run_id)
        click.echo(text, nl=False)
        return 0
    click.echo(str(write_run_report(repo_path, run_id, output)))
    return 0


@cli.command()
@repo_option
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help=TASKS_JSON_HELP,
)
@click.option("--target", help="The branch tasks merge into (config: coordinator/integration).")
def tasks(repo_path: Path | None, as_json: bool, target: str | None) -> int:
    """Every spec's state across runs: merged, changed since it landed, failed, never run."""
    data = read_tasks(repo_path, target)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        render_tasks(Console(), data, repo_root(repo_path))
    return 0


@cli.command()
@repo_option
@click.argument("tasks", nargs=-1)
@click.option("--run", "run_id", help="Only what this run landed.")
@click.option("--since", help="Only what landed after this revision or date.")
@click.option("--patch", is_flag=True, help="Show the diffs too.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True
)
@click.option("--target", help="Branch to review (config: coordinator/integration).")
def review(
    repo_path: Path | None,
    tasks: tuple[str, ...],
    run_id: str | None,
    since: str | None,
    patch: bool,
    fmt: str,
    target: str | None,
) -> int:
    """What landed, in merge order, with the plain git commands that show the same."""
    repo, branch = review_target(repo_path, target)
    with repo:
        if repo.rev_parse(branch_ref(branch)) is None:
            click.echo(f"nothing to review: branch {branch} does not exist yet")
            return 0
        items = landed(
            repo, branch, tasks=tasks, run_id=run_id, since=since, patch=patch,
            summaries=store_summaries(repo.git_dir), used=store_usage(repo.git_dir),
        )  # fmt: skip
    text = render_markdown(items, branch) if fmt == "markdown" else render_review(items, branch)
    text = with_unlanded(text, repo.git_dir, tasks, items, markdown=fmt == "markdown")
    click.echo(text, nl=not text.endswith("\n"))
    return 0


@cli.command()
@repo_option
@click.option("--all", "all_", is_flag=True, help="Also unmerged work (needs --force).")
@click.option("--force", is_flag=True, help="Confirm deleting unmerged work with --all.")
@click.option("--target", help="The branch tasks merged into (config: coordinator/integration).")
def clean(repo_path: Path | None, all_: bool, force: bool, target: str | None) -> int:
    """Remove worktrees and branches of merged tasks; keep everything else."""
    check_target(target)
    for line in clean_repo(repo_path, all_=all_, force=force, target=target).lines():
        click.echo(line)
    return 0


@cli.command()
@repo_option
@click.option("--once", is_flag=True, help="One cycle, for cron: run what is new or changed.")
@click.option("--json", "json_lines", is_flag=True, help="Print JSON lines events.")
def daemon(repo_path: Path | None, once: bool, json_lines: bool) -> int:
    """Run new or changed specs unattended: once (cron) or watching the specs directory."""
    if once:
        return _report(lambda reporter: daemon_cycle(repo_path, reporter), json_lines)
    return daemon_watch(repo_path, lambda: make_reporter(json_lines=json_lines))


@cli.command()
@repo_option
@click.option("--onto", help="Branch to land on (default: the checked-out branch).")
@click.option("--ff-only", is_flag=True, help="Refuse anything but a fast-forward.")
@click.option(
    "--yes", is_flag=True, help="Also land commits that are not task merges (a diverged branch)."
)
def land(repo_path: Path | None, onto: str | None, ff_only: bool, yes: bool) -> int:
    """Move the reviewed target onto your branch (or a new one) without touching a dirty tree."""
    result = land_target(repo_path, onto=onto, ff_only=ff_only, yes=yes)
    click.echo(result.line())
    return 0


@cli.command()
@repo_option
@click.argument("task")
def revert(repo_path: Path | None, task: str) -> int:
    """Revert a task's merge on the target (-m 1); the daemon will not rerun it unasked."""
    result = revert_task(repo_path, task)
    click.echo(result.line())
    return 0


def _report(work: Callable[[Reporter], RunResult], json_lines: bool) -> int:
    """Run ``work`` with the right reporter, close it, and print the closing one-liner."""
    reporter = make_reporter(json_lines=json_lines)
    try:
        result = work(reporter)
    finally:
        reporter.close()
    if result.report is not None:  # before the message, which stays the closing line
        path = str(result.report)
        line = json.dumps({"event": "report", "path": path}) if json_lines else f"report: {path}"
        click.echo(line)
    if result.message:
        message = result.message
        click.echo(json.dumps({"event": "message", "message": message}) if json_lines else message)
    return result.exit_code


def _crash_log(exc: BaseException) -> Path:
    """Unexpected errors leave a log with versions and the traceback, as pre-commit does."""
    with tempfile.NamedTemporaryFile(
        "w", prefix="coordinator-crash-", suffix=".log", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(f"coordinator {__version__}, python {sys.version}\n")
        handle.write(f"argv: {sys.argv}\n\n")
        handle.write("".join(traceback.format_exception(exc)))
    return Path(handle.name)


cli.add_command(cron)


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0911 - one return per outcome
    """Entry point: returns the exit code instead of raising, so tests can call it directly."""
    try:
        result = cli.main(args=argv, prog_name="coordinator", standalone_mode=False)
    except InputError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        return exc.exit_code
    except CoordinatorError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        # Ctrl-C outside a run's own handling (loading, planning, recovery): no traceback.
        click.echo("aborted", err=True)
        return 130
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        # One line like every other input error, naming the option and where help is.
        command = exc.ctx.command_path if exc.ctx else "coordinator"
        param = getattr(exc, "param", None)  # BadParameter and its kin name the option
        where = f"{param.opts[0]}: " if param is not None and param.opts else ""
        click.echo(f"error: {where}{exc.format_message()} (see {command} --help)", err=True)
        return EXIT_BAD_INPUT
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return EXIT_BAD_INPUT if exc.exit_code == 2 else exc.exit_code
    except Exception as exc:
        log = _crash_log(exc)
        click.echo(f"internal error: {exc!r}; details in {log}", err=True)
        return EXIT_INTERNAL
    return result if isinstance(result, int) else 0


def entry() -> None:
    """Console-script wrapper: ``sys.exit`` with ``main``'s code."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
