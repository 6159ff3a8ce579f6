"""``coordinator cron``: one crontab line per repository, written through ``crontab -l``/``-``.

Cron runs the line with ``/bin/sh -c``, an almost empty environment and the home directory as
its working directory, so the line carries everything itself: absolute paths to the
interpreter, the repository and the log, and the ``PATH`` (and ``HOME``) that found git and the
agents when it was installed. The coordinator locks the repository itself, so the line needs no
``flock``: an overlapping cycle exits 75 at once. Other lines of the user's crontab are kept as
they are; ours is recognised by its trailing ``# worktree-coordinator: <repo>`` comment.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import coordinator
from coordinator.core.durations import parse_duration
from coordinator.errors import CoordinatorError, InputError, Problem
from coordinator.io import processes
from coordinator.io.runfiles import state_dir

MARK = "# worktree-coordinator:"
LOG_NAME = "cron.log"
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


class CronError(CoordinatorError):
    """``crontab`` is missing or refused: nothing was changed (exit 1, one line)."""

    exit_code = 1


@dataclass(frozen=True)
class CronChange:
    """The crontab before and after; ``after == before`` when there was nothing to change."""

    line: str | None
    before: str
    after: str


def schedule(every: str) -> str:
    """A cron schedule for an interval: minutes dividing an hour, hours dividing a day."""
    try:
        seconds = parse_duration(every)
    except ValueError as exc:
        raise InputError(Problem(None, "--every", str(exc), "for example --every 15m")) from None
    minutes = seconds / 60
    if minutes == int(minutes) and 1 <= minutes < 60 and 60 % minutes == 0:
        return "* * * * *" if minutes == 1 else f"*/{int(minutes)} * * * *"
    hours = minutes / 60
    if hours == int(hours) and 1 <= hours <= 24 and 24 % hours == 0:
        if hours == 1:
            return "0 * * * *"
        return "0 0 * * *" if hours == 24 else f"0 */{int(hours)} * * *"
    raise InputError(
        Problem(
            None,
            "--every",
            f"{every!r} is not a cron interval",
            "use minutes that divide an hour (1m..30m) or hours that divide a day (1h..24h)",
        )
    )


def cron_escape(text: str) -> str:
    """Cron turns an unescaped ``%`` of the command into a newline (and stdin after it)."""
    return text.replace("%", "\\%")


def _mark(root: Path) -> str:
    return cron_escape(f"{MARK} {root}")


def _python_path(env: dict[str, str]) -> str | None:
    """The directory to put on ``PYTHONPATH`` when this interpreter alone would not import
    this very ``coordinator`` package (it was found through ``PYTHONPATH`` or the current
    directory): cron must run the code that installed the line, not another copy or none."""
    package = Path(coordinator.__file__).resolve().parent
    probe = processes.run(
        [sys.executable, "-c", "import coordinator; print(coordinator.__file__)"], env=env, cwd="/"
    )
    found = probe.text.strip()
    if probe.ok and found and Path(found).resolve().parent == package:
        return None
    return str(package.parent)


def cron_line(root: Path, git_dir: Path, every: str) -> str:
    """The whole crontab line: schedule, a self-contained ``sh`` command, and our mark."""
    when = schedule(every)
    for name, value in (("repository path", str(root)), ("interpreter", sys.executable)):
        if "\n" in value or "\r" in value or not value:
            raise InputError(
                Problem(None, None, f"the {name} {value!r} cannot go in a crontab line")
            )
    state = state_dir(git_dir)
    env = {"PATH": os.environ.get("PATH") or DEFAULT_PATH}
    if os.environ.get("HOME"):
        env["HOME"] = os.environ["HOME"]
    python_path = _python_path(env)
    if python_path:
        env["PYTHONPATH"] = python_path
    words = [
        "cd", shlex.quote(str(root)), "&&",
        "mkdir", "-p", shlex.quote(str(state)), "&&",
        *(f"{key}={shlex.quote(value)}" for key, value in env.items()),
        shlex.quote(sys.executable), "-m", "coordinator.cli",
        "daemon", "--once", "-C", shlex.quote(str(root)),
        ">>", shlex.quote(str(state / LOG_NAME)), "2>&1",
    ]  # fmt: skip
    return f"{when} {cron_escape(' '.join(words))} {_mark(root)}"


def read_crontab() -> str:
    """The user's crontab, ``""`` when they have none."""
    result = processes.run(["crontab", "-l"])
    if result.returncode == processes.EXIT_NOT_FOUND and result.error:
        raise CronError(
            "crontab is not installed (install cron, e.g. apt-get install cron); nothing changed"
        )
    stderr = result.stderr.decode("utf-8", "replace").strip()
    if not result.ok:
        if "no crontab" in stderr.lower():
            return ""
        raise CronError(f"crontab -l failed: {stderr or result.reason()}")
    return result.text


def write_crontab(text: str) -> None:
    result = processes.run(["crontab", "-"], input=text.encode())
    if result.returncode == processes.EXIT_NOT_FOUND and result.error:
        raise CronError("crontab is not installed (install cron)")
    if not result.ok:
        stderr = result.stderr.decode("utf-8", "replace").strip()
        raise CronError(f"crontab - failed: {stderr or result.reason()}")


def _ours(line: str, root: Path) -> bool:
    return line.rstrip().endswith(_mark(root))


def _without_ours(text: str, root: Path) -> list[str]:
    return [line for line in text.splitlines() if not _ours(line, root)]


def install(root: Path, git_dir: Path, every: str, *, dry_run: bool) -> CronChange:
    """Add our line, or replace it (another ``--every``), keeping every other line."""
    line = cron_line(root, git_dir, every)
    before = read_crontab()
    after = "\n".join([*_without_ours(before, root), line]) + "\n"
    if not dry_run:
        state_dir(git_dir).mkdir(parents=True, exist_ok=True)
        write_crontab(after)
    return CronChange(line, before, after)


def remove(root: Path, *, dry_run: bool) -> CronChange:
    """Take our line out; a crontab without it is left alone (``after == before``)."""
    before = read_crontab()
    if not any(_ours(line, root) for line in before.splitlines()):
        return CronChange(None, before, before)
    kept = _without_ours(before, root)
    after = "\n".join(kept) + "\n" if kept else ""
    if not dry_run:
        write_crontab(after)
    return CronChange(None, before, after)


def show(root: Path) -> str | None:
    for line in read_crontab().splitlines():
        if _ours(line, root):
            return line
    return None
