"""One error family for everything the user can fix or must know about.

Handled errors carry a one-line message per problem and the exit code the CLI returns, so the
CLI never prints a traceback for them (the tox ``HandledError`` / pre-commit ``FatalError`` model).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

EXIT_OK = 0
EXIT_UNMERGED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_LOCKED = 75  # EX_TEMPFAIL: cron and scripts read it as "try again later"


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) as one space: a message, or a
    title, that stays on its line."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the user's input: where, which field, what, and how to fix it."""

    file: str | None
    field: str | None
    message: str
    fix: str | None = None

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.field) if part)
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} ({self.fix})" if self.fix else text


class CoordinatorError(Exception):
    """A handled failure: the CLI prints ``str(error)`` and exits with ``exit_code``."""

    exit_code = EXIT_INTERNAL


class InputError(CoordinatorError):
    """Bad specs, config or arguments; raised before anything on disk changes."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, problems: Iterable[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(None, None, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class GitError(CoordinatorError):
    """A git command failed; the message shows the command, its exit code and its output."""

    exit_code = EXIT_INTERNAL


class LockHeldError(CoordinatorError):
    """Another coordinator owns this repository."""

    exit_code = EXIT_LOCKED
