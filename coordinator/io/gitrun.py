"""How one git process starts: its argv, its environment, and what its failure says.

Every git command of the coordinator starts in ``run_git`` (or ``git_command``, for the
long-lived ``cat-file`` reader); the command lines themselves are built in ``gitrepo`` and
``gitisolation``. Options every command carries are added here, in one place: ``GLOBAL_OPTIONS``
before the subcommand, and the environment of ``gitenv.git_env`` (no leaked ``GIT_*``
variable; ``SAFE_CONFIG``, under which git runs no program an agent could have named).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from coordinator.errors import GitError
from coordinator.io import processes
from coordinator.io.gitenv import git_env
from coordinator.io.processes import ProcessResult

_STDERR_LIMIT = 4000
# Options put before the subcommand of every git command the coordinator runs (the config
# that keeps git from running programs an agent named is in the environment: ``gitenv``).
GLOBAL_OPTIONS: tuple[str, ...] = ("--no-pager",)
# Every diff that may show content: no external diff program, no textconv filter.
NO_DIFF_PROGRAMS = ("--no-ext-diff", "--no-textconv")
Env = Mapping[str, str] | None
Overrides = Sequence[tuple[str, str]]


def git_command(
    args: Sequence[str], env: Env = None, config: Overrides = ()
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of ``git *args``: every git process starts from these."""
    return ["git", *GLOBAL_OPTIONS, *args], git_env(env, config)


def run_git(
    args: Sequence[str], cwd: Path, *, input: bytes | None = None,
    env: Env = None, ok: Sequence[int] | None = (0,), config: Overrides = (),
) -> ProcessResult:  # fmt: skip
    """Run ``git *args`` in ``cwd``; raise ``GitError`` unless the exit code is in ``ok``.

    ``ok=None`` accepts every exit code (the caller reads ``returncode`` itself). Without
    ``input`` stdin is ``/dev/null``, so git can never wait for a keyboard. ``config`` adds
    command-line config (e.g. drivers to disable) after ``gitenv.SAFE_CONFIG``.
    """
    argv, full_env = git_command(args, env, config)
    proc = processes.run(argv, cwd=cwd, input=input, env=full_env)
    if proc.error:  # git missing, or cwd gone
        raise GitError(f"{proc.error} (in {cwd})")
    if ok is not None and proc.returncode not in ok:
        raise git_error(proc, cwd)
    return proc


def git_error(proc: ProcessResult, cwd: Path) -> GitError:
    """What failed, where, with which exit code, and git's own explanation."""
    said = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()
    said = said if len(said) <= _STDERR_LIMIT else said[:_STDERR_LIMIT] + " [...]"
    argv = proc.argv
    if argv[1 : 1 + len(GLOBAL_OPTIONS)] == GLOBAL_OPTIONS:  # said as the user would type it
        argv = (argv[0], *argv[1 + len(GLOBAL_OPTIONS) :])
    return GitError(f"`{shlex.join(argv)}` failed with exit code {proc.returncode} in "
                    f"{cwd}:\n{said}")  # fmt: skip
