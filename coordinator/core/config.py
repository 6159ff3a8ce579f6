"""The configuration model: ``coordinator.toml`` or ``[tool.coordinator]`` in ``pyproject.toml``.

Parsing is pure (a dict in, a ``Config`` or ``InputError`` out); reading the files lives in
``coordinator.project``. Unknown keys are errors with a suggestion, because a misspelt
``instance = 8`` silently ignored is worse than a refusal.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from coordinator.core.argv import ENV_PREFIX, check_template
from coordinator.core.fields import MAX_DURATION_HELP, bounded_duration
from coordinator.core.models import FootprintMode, UnknownFootprint
from coordinator.core.profiles import PROFILES, ProfileName
from coordinator.core.refs import DEFAULT_TARGET, RESERVED_BRANCH_PREFIXES
from coordinator.core.rules import validate_repo_path
from coordinator.errors import InputError, Problem

_PROFILE_NAMES: Final = ", ".join(f'"{name}"' for name in PROFILES)

# Capped at a year: a timeout becomes a timer deadline, and ``1e300`` seconds overflows it mid-run.
Seconds = Annotated[float, BeforeValidator(bounded_duration)]


def _nonzero(seconds: float) -> float:
    if seconds == 0:
        raise ValueError("zero would stop it at once")
    return seconds


Timeout = Annotated[Seconds, AfterValidator(_nonzero)]

GIB = 1024**3

BRANCH_FIX: Final = "use a branch name such as coordinator/integration or agents/work"
_BRANCH_CHARS: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


def branch_problem(name: str) -> str | None:
    """Why ``name`` cannot be the target branch, or None when it can.

    Checked when the config or ``--target`` is read, so that ``validate`` and ``plan`` refuse
    what ``git branch`` would refuse halfway through ``run`` (``HEAD``, ``a/.b``, ``x.lock/y``),
    and so that a name is never read as an option (``-rf``) or a revision (``a@{1}``, ``a~1``).
    The character set is the one ``run`` has always accepted; the rest are git's ref rules.
    """
    parts = name.split("/")
    checks = (
        (not name, "is empty"),
        (not _BRANCH_CHARS.fullmatch(name), "may only use A-Z, a-z, 0-9, '.', '_', '-' and '/', "
                                            "starting with a letter or digit"),
        (".." in name, "contains '..'"),
        (any(not part for part in parts), "has an empty path component ('//' or a trailing '/')"),
        (any(part.startswith(".") for part in parts), "has a component starting with '.'"),
        (any(part.endswith(".lock") for part in parts), "has a component ending in '.lock'"),
        (name.endswith("."), "ends in '.'"),
        (name == "HEAD", "is reserved by git"),
        (name.startswith(RESERVED_BRANCH_PREFIXES), "is inside the coordinator's task branches"),
    )  # fmt: skip
    return next((reason for failed, reason in checks if failed), None)


def _target(value: object) -> object:
    if isinstance(value, str) and (problem := branch_problem(value)):
        raise ValueError(f"{value!r} {problem}")
    return value


def _argv_list(value: object) -> object:
    """An argv list whose program is named and that a process can take (no NUL anywhere)."""
    if isinstance(value, list):
        if value and value[0] == "":
            raise ValueError("the first element (the program) is empty")
        if any(isinstance(item, str) and "\0" in item for item in value):
            raise ValueError("an argument contains a NUL character")
    return value


def _environment(value: object) -> object:
    """Variables a process can receive; ``COORDINATOR_*`` are the coordinator's own.

    Refused here rather than when the first agent starts, which would be mid-run.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not isinstance(item, str):
                continue  # the type check reports it
            if not key or "=" in key or "\0" in key:
                what = "is empty" if not key else "contains '=' or NUL"
                raise ValueError(f"variable name {key!r} {what}")
            if key.upper().startswith(ENV_PREFIX):
                raise ValueError(f"{key!r}: {ENV_PREFIX}* variables are set by the coordinator")
            if "\0" in item:
                raise ValueError(f"the value of {key!r} contains a NUL character")
    return value


Argv = Annotated[list[str], BeforeValidator(_argv_list)]


def _repo_file(value: object) -> object:
    """A repository-relative file path (read from the working tree when the config is read)."""
    if isinstance(value, str) and (problem := validate_repo_path(value)):
        raise ValueError(f"{value!r} {problem}")
    return value


def _no_nul(text: str) -> str:
    """The identity goes into git's environment, where a NUL cannot be passed."""
    if "\0" in text:
        raise ValueError("contains a NUL character")
    return text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentConfig(_Strict):
    """One agent type: how to start it and how many may run at once.

    ``command`` is the argv; ``profile`` names a ready one (``core.profiles``) instead.
    """

    command: Argv = Field(default_factory=list, min_length=1)  # a default is not validated
    profile: ProfileName | None = None
    instances: int | None = Field(default=None, ge=1)
    timeout: Timeout | None = None
    grace: Seconds | None = None
    env: Annotated[dict[str, str], BeforeValidator(_environment)] = Field(default_factory=dict)
    description: str = ""
    # The prompt's template, relative to the repository root (default: core.prompt's).
    prompt_template: Annotated[str, BeforeValidator(_repo_file)] | None = None

    @field_validator("command")
    @classmethod
    def _known_placeholders(cls, command: list[str]) -> list[str]:
        """A typo such as ``{promt_file}`` is reported when the config is read, not mid-run."""
        check_template(command)
        return command

    @model_validator(mode="before")
    @classmethod
    def _profile_command(cls, data: Any) -> Any:
        """A known ``profile`` supplies the command; an unknown one is left to the field check."""
        if isinstance(data, dict) and isinstance(data.get("profile"), str):
            if "command" in data:
                raise ValueError("has both command and profile; keep one of them")
            if data["profile"] in PROFILES:
                return {**data, "command": list(PROFILES[data["profile"]])}
        return data

    @model_validator(mode="after")
    def _has_command(self) -> AgentConfig:
        if not self.command:
            raise ValueError(f"needs a command, or a profile ({_PROFILE_NAMES})")
        return self


def _plain_glob(value: str) -> str:
    """A repository-relative glob that can also be written as a git attributes pattern."""
    if not value.strip() or any(ch.isspace() or not ch.isprintable() for ch in value):
        raise ValueError("must be a glob without spaces or control characters")
    if value.startswith(("/", "!", "#", "../")) or "\\" in value:
        raise ValueError("must be a repository-relative glob such as CHANGES* or docs/**")
    return value


class MergeConfig(_Strict):
    """The merge gate: ``verify`` runs on the merge result before the target moves."""

    verify: Annotated[Argv, Field(min_length=1)] | None = None
    verify_timeout: Timeout = 600.0
    parallel: int | None = Field(default=None, ge=1)  # gates at once; None: ``instances``
    batch: int = Field(default=1, ge=1)  # queued entries checked by one gate run


class OverlapConfig(_Strict):
    """Optimistic sharing: overlaps on ``shared`` paths do not serialize tasks; ``union`` paths
    merge with git's union driver; ``optimistic`` waives every overlap."""

    shared: list[Annotated[str, AfterValidator(_plain_glob)]] = Field(default_factory=list)
    union: list[Annotated[str, AfterValidator(_plain_glob)]] = Field(default_factory=list)
    mode: Literal["files", "optimistic"] = "files"


class DaemonConfig(_Strict):
    notify: Annotated[Argv, Field(min_length=1)] | None = None
    debounce: Seconds = 2.0


class Identity(_Strict):
    """Author and committer of the commits the coordinator makes for agents and merges."""

    name: Annotated[str, AfterValidator(_no_nul)] = "coordinator"
    email: Annotated[str, AfterValidator(_no_nul)] = "coordinator@localhost"


class Config(_Strict):
    specs: str = "specs"
    worktrees: str = "worktrees"
    target: Annotated[str, BeforeValidator(_target)] = DEFAULT_TARGET
    instances: int = Field(default=3, ge=1)
    footprint: FootprintMode = "infer"
    unknown_footprint: UnknownFootprint = "exclusive"
    on_violation: Literal["warn", "fail"] = "warn"
    on_conflict: Literal["retry", "stop"] = "retry"
    grace: Seconds = 5.0
    checkout: Literal["full", "sparse"] = "full"
    worktree_pool: int | None = Field(default=None, ge=0)
    reuse_ignored: bool = False
    min_free_disk: int = Field(default=GIB, ge=0)
    log_limit: int = Field(default=50 * 1024**2, ge=1024)
    identity: Identity = Field(default_factory=Identity)
    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    merge: MergeConfig = Field(default_factory=MergeConfig)
    overlap: OverlapConfig = Field(default_factory=OverlapConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)

    def agent_cap(self, agent: str) -> int:
        """Per-type cap; a type without ``instances`` may use every global slot."""
        configured = self.agents[agent].instances if agent in self.agents else None
        return min(configured or self.instances, self.instances)

    def pool_size(self, instances: int) -> int:
        """Idle worktrees kept warm for reuse: ``worktree_pool``, by default one per instance
        of the run (what finishes while the others run is what the next starts need)."""
        return instances if self.worktree_pool is None else self.worktree_pool


_FIXES = {
    "command": 'write an argv list, e.g. command = ["python3", "agent.py", "{prompt_file}"]',
    "verify": 'write an argv list, e.g. verify = ["python3", "-m", "pytest", "-q"]',
    "notify": 'write an argv list, e.g. notify = ["notify-send", "coordinator"]',
    "env": 'write names and text values, e.g. env = { MY_SETTING = "1" }',
    "target": BRANCH_FIX,
    "timeout": MAX_DURATION_HELP,
    "grace": MAX_DURATION_HELP,
    "debounce": MAX_DURATION_HELP,
    "verify_timeout": MAX_DURATION_HELP,
    "instances": "write a whole number of at least 1",
    "parallel": "write a whole number of at least 1 (gate runs at once)",
    "batch": "write a whole number of at least 1 (queued merges per gate run)",
    "log_limit": "write a number of bytes, at least 1024",
    "min_free_disk": "write a number of bytes, 0 or more",
    "specs": 'write a directory relative to the repository root, e.g. specs = "specs"',
    "worktrees": 'write a directory relative to the repository root, e.g. worktrees = "worktrees"',
    "identity": 'write name = "..." and email = "..." under [identity]',
    "agents": 'write [agents.NAME] tables with command = ["program", "{prompt_file}"]',
    "profile": f"write one of {_PROFILE_NAMES}",
    "prompt_template": 'write a file path relative to the repository root, e.g. '
    'prompt_template = "prompts/coder.md"',
    "merge": "write a [merge] table with verify, verify_timeout, parallel and batch",
    "daemon": "write a [daemon] table with notify and debounce",
    "overlap": "write an [overlap] table with shared, union and mode",
    "shared": 'write a list of repository-relative globs, e.g. shared = ["CHANGES*"]',
    "union": 'write a list of repository-relative globs, e.g. union = ["CHANGES*"]',
    "mode": 'write "files" or "optimistic"',
    "footprint": 'write "infer" or "declared"',
    "unknown_footprint": 'write "exclusive" or "shared"',
    "on_violation": 'write "warn" or "fail"',
    "on_conflict": 'write "retry" or "stop"',
    "checkout": 'write "full" or "sparse"',
    "worktree_pool": "write how many idle worktrees to keep for reuse, 0 or more (0: none)",
    "reuse_ignored": "write true (ignored build output survives into the next task) or false",
}


def _known_fields(model: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    """The field names valid at ``path`` inside ``model``, for "did you mean" suggestions."""
    current: Any = model
    for part in path:
        if isinstance(part, int) or current is None:
            return []
        info = current.model_fields.get(part)
        if info is None:
            return []
        annotation = info.annotation
        args = getattr(annotation, "__args__", ())
        if (
            annotation is not None
            and isinstance(annotation, type)
            and issubclass(annotation, BaseModel)
        ):
            current = annotation
        elif args and isinstance(args[-1], type) and issubclass(args[-1], BaseModel):
            current = args[-1]  # dict[str, AgentConfig]: skip the key
        else:
            current = None
    return list(current.model_fields) if current is not None else []


def _strip_dict_keys(path: tuple[str | int, ...]) -> tuple[str | int, ...]:
    out: list[str | int] = []
    skip_next = False
    for part in path:
        if skip_next:
            skip_next = False
            continue
        out.append(part)
        if part == "agents":
            skip_next = True
    return tuple(out)


def _fix_for(loc: tuple[str | int, ...]) -> str | None:
    """The fix of the innermost field that has one: ``agents.x.env.A`` gets ``env``'s, and
    ``agents.x.command.0`` gets ``command``'s, so no config error is left without a fix."""
    return next((_FIXES[part] for part in reversed(loc) if isinstance(part, str)
                 and part in _FIXES), None)  # fmt: skip


def parse_config(data: dict[str, Any], source: str) -> Config:
    """Validate raw TOML data; every problem becomes one line naming ``source`` and the field."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(p) for p in loc) or "(top level)"
            leaf = str(loc[-1]) if loc else ""
            if err["type"] == "extra_forbidden":
                parent = _strip_dict_keys(loc[:-1])
                known = _known_fields(Config, parent)
                close = difflib.get_close_matches(leaf, known, n=1)
                fix = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else ("remove it; known keys: " + ", ".join(known) if known else "remove it")
                )
                problems.append(Problem(source, field, "unknown key", fix))
                continue
            message = err["msg"]
            if message.startswith("Value error, "):
                message = message.removeprefix("Value error, ")
            problems.append(Problem(source, field, message, _fix_for(loc)))
        raise InputError(problems) from None
