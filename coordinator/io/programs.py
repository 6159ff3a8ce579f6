"""Does each agent type's program exist? Asked before anything starts, not after a worktree.

An agent whose program is missing used to be found out only when its first task had a worktree
and a branch, as an ``exit code 127`` whose cause was in the log. ``validate`` and ``run`` ask
here first and say it in one line per agent type: which type, which program, and the fix.

The program is looked up as the launch will look it up (``subprocess`` without a shell): a bare
name on the ``PATH`` the agent gets (its ``env`` may set one), an absolute path as it is, and a
relative path with a ``/`` inside the task's worktree, which is a checkout of the target, so the
file must be committed there. ``{python}`` is the interpreter running the coordinator. A program
named through another placeholder (``{worktree}/run.sh``) is only known at launch.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

from coordinator.core.argv import placeholders_in, render_argv
from coordinator.core.config import AgentConfig, Config
from coordinator.core.footprint import RepoPaths
from coordinator.errors import Problem


def program_of(agent: AgentConfig) -> str | None:
    """The program an agent type starts, with ``{python}`` filled in; None when another
    placeholder names it."""
    return _first_program(agent.command)


def program_problems(
    config: Config, source: str, agents: Iterable[str], root: Path, tracked: RepoPaths
) -> list[Problem]:
    """One problem per agent type in ``agents`` whose program cannot be started, and one when
    ``[worktree] setup``'s cannot (it runs before each of their agents, with their env)."""
    problems = []
    used = sorted(set(agents))
    for name in used:
        agent = config.agents.get(name)
        program = program_of(agent) if agent is not None else None
        if agent is None or program is None:
            continue
        why, fix = _missing(program, agent, root, tracked)
        if why:
            message = f"agent type {name!r} runs {program!r}: {why}"
            problems.append(Problem(source, f"agents.{name}", message, fix))
    setup = config.worktree.setup
    program = _first_program(setup) if setup else None
    for name in used if program is not None else ():
        agent = config.agents.get(name)
        why, fix = _missing(program or "", agent, root, tracked, "setup") if agent else (None, None)
        if why:
            message = f"setup runs {program!r}: {why}"
            problems.append(Problem(source, "worktree.setup", message, fix))
            break
    return problems


def _first_program(argv: list[str]) -> str | None:
    if not placeholders_in([argv[0]]) <= {"python"}:
        return None
    return render_argv([argv[0]], {"python": sys.executable})[0]


def _missing(
    program: str, agent: AgentConfig, root: Path, tracked: RepoPaths, key: str = "command"
) -> tuple[str | None, str | None]:
    """Why ``program`` cannot start and how to fix it, or ``(None, None)``."""
    full_path = f"give its full path as the first element of {key}"
    why: str | None = None
    fix: str | None = None
    path = Path(program)
    if "/" not in program:
        search = agent.env.get("PATH", os.environ.get("PATH", os.defpath))
        if shutil.which(program, path=search) is None:
            where = "the PATH set in its env" if "PATH" in agent.env else "PATH"
            why, fix = f"not found on {where}", f"install it, or {full_path}"
    elif path.is_absolute():
        if not path.is_file():
            why, fix = "no such file", f"install it there, or {full_path}"
        elif not os.access(path, os.X_OK):
            why, fix = "not executable", f"chmod +x {program}"
    else:
        rel = Path(os.path.normpath(program)).as_posix()
        if rel not in tracked.files:
            here = " (it is in your checkout, uncommitted)" if (root / rel).is_file() else ""
            why = (
                f"not a committed file{here}; agents run in worktrees of the target, where a "
                "relative program is looked up"
            )
            fix = f"commit {rel}, or {full_path}"
    return why, fix
