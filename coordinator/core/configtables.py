"""The config tables for getting a task ready and keeping a run in bounds: ``[worktree]``
(setup command, files copied or linked in, ports), ``[budget]`` and ``[notify]``.

Pure like the rest of the config model: what is validated here is what a run can rely on, so a
path that would leave the repository or a setup command with a typo in a placeholder is refused
when the config is read, never halfway through a run.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import AfterValidator, Field, field_validator

from coordinator.core.argv import check_template
from coordinator.core.configtypes import Argv, Strict, Timeout
from coordinator.core.rules import glob_problem, validate_repo_path

NotifyEvent = Literal["task_failed", "task_conflict", "task_tampered", "run_finished"]
NOTIFY_EVENTS: Final[tuple[NotifyEvent, ...]] = (
    "task_failed", "task_conflict", "task_tampered", "run_finished",
)  # fmt: skip


def _repo_path(text: str) -> str:
    if problem := validate_repo_path(text):
        raise ValueError(f"{text!r} {problem}")
    return text.rstrip("/")


def _glob(text: str) -> str:
    _repo_path(text)
    if problem := glob_problem(text):
        raise ValueError(f"{text!r} is not a valid glob: {problem}")
    return text


RepoGlob = Annotated[str, AfterValidator(_glob)]
RepoPath = Annotated[str, AfterValidator(_repo_path)]


class WorktreeConfig(Strict):
    """What makes a fresh task worktree ready to work in, and the ports each task may use.

    ``copy`` brings untracked or ignored files of the user's checkout (``.env``) into each new
    worktree; ``link`` symlinks shared directories (``node_modules``) instead of copying them;
    ``setup`` then runs in the worktree before the agent. Nothing they place is ever committed.
    """

    setup: Annotated[Argv, Field(min_length=1)] | None = None
    setup_timeout: Timeout = 600.0
    setup_always: bool = False
    copy_files: list[RepoGlob] = Field(default_factory=list, alias="copy")  # BaseModel.copy
    link: list[RepoPath] = Field(default_factory=list)
    port_base: int = Field(default=20000, ge=1, le=65535)
    port_stride: int = Field(default=10, ge=1)

    @field_validator("setup")
    @classmethod
    def _known_placeholders(cls, setup: list[str] | None) -> list[str] | None:
        if setup is not None:
            check_template(setup)
        return setup


class BudgetConfig(Strict):
    """Once a run's agents have used this much, no new task starts (see ``decisions``)."""

    max_cost_usd: float | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)


class NotifyConfig(Strict):
    """A command told about failures and the end of a run, one JSON object on stdin each."""

    command: Annotated[Argv, Field(min_length=1)] | None = None
    timeout: Timeout = 30.0
    events: list[NotifyEvent] = Field(default_factory=lambda: list(NOTIFY_EVENTS))


def _ray_address(text: str) -> str:
    if text in ("auto", "local") or text.startswith("ray://"):
        return text
    host, _, port = text.rpartition(":")
    if host and port.isdigit():
        return text  # a cluster's GCS address, as `ray start --head` prints it
    raise ValueError(f"{text!r} is not a Ray address")


class RayConfig(Strict):
    """Where ``executor = "ray"`` runs agents: a cluster's address (``auto`` finds the one
    this machine belongs to, ``local`` starts a Ray instance for the run), the environment
    Ray prepares on each node, how often a task whose node died runs again, and a git remote
    nodes may clone from instead of receiving the whole base as a bundle."""

    address: Annotated[str, AfterValidator(_ray_address)] = "auto"
    runtime_env: dict[str, object] | None = None
    max_retries: int = Field(default=2, ge=0, le=100)
    remote: str | None = Field(default=None, min_length=1)


RAY_FIXES: Final[dict[str, str]] = {
    "executor": 'write "local" or "ray"',
    "ray": "write a [ray] table with address, runtime_env, max_retries and remote",
    "address": 'write "auto", "local", "ray://HOST:PORT" or HOST:PORT',
    "runtime_env": 'write a table Ray understands, e.g. runtime_env = { pip = ["requests"] }',
    "max_retries": "write a whole number from 0 to 100 (runs after a node died)",
    "remote": 'write a git URL every node can clone, e.g. remote = "https://host/repo.git"',
}
