"""The configuration model: ``coordinator.toml`` or ``[tool.coordinator]`` in ``pyproject.toml``.

Parsing is pure (a dict in, a ``Config`` or ``InputError`` out); reading the files lives in
``coordinator.project``. Unknown keys are errors with a suggestion, because a misspelt
``instance = 8`` silently ignored is worse than a refusal.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from coordinator.core import configtables
from coordinator.core.argv import ENV_PREFIX, check_template
from coordinator.core.branchnames import BRANCH_FIX, branch_problem
from coordinator.core.configpredict import PredictConfig
from coordinator.core.configtables import BudgetConfig, NotifyConfig, WorktreeConfig
from coordinator.core.configtypes import Argv, Seconds, Timeout
from coordinator.core.configtypes import Strict as _Strict
from coordinator.core.fields import MAX_DURATION_HELP
from coordinator.core.models import FootprintMode, Isolation, UnknownFootprint
from coordinator.core.profiles import PROFILES, ProfileName
from coordinator.core.refs import DEFAULT_TARGET
from coordinator.core.rules import validate_repo_path
from coordinator.core.slots import ports_problem
from coordinator.core.usagereaders import READERS, UsageFormat
from coordinator.errors import InputError, Problem

_PROFILE_NAMES: Final = ", ".join(f'"{name}"' for name in PROFILES)

GIB = 1024**3

def _target(value: object) -> object:
    if isinstance(value, str) and (problem := branch_problem(value)):
        raise ValueError(f"{value!r} {problem}")
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
    isolation: Isolation | None = None  # default: the top-level ``isolation``
    retries: int = Field(default=0, ge=0, le=100)
    retry_delay: Seconds = 0.0
    usage_from: UsageFormat | None = None  # default: what its profile prints, if anything
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
    resolver: str | None = None  # the agent type that resolves conflicts (on_conflict = "resolve")


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
    on_conflict: Literal["retry", "stop", "resolve"] = "retry"
    grace: Seconds = 5.0
    checkout: Literal["full", "sparse"] = "full"
    isolation: Isolation = "worktree"
    worktree_pool: int | None = Field(default=None, ge=0)
    reuse_ignored: bool = False
    min_free_disk: int = Field(default=GIB, ge=0)
    min_free_memory: int = Field(default=0, ge=0)
    max_load: float | None = Field(default=None, gt=0)
    log_limit: int = Field(default=50 * 1024**2, ge=1024)
    identity: Identity = Field(default_factory=Identity)
    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    merge: MergeConfig = Field(default_factory=MergeConfig)
    overlap: OverlapConfig = Field(default_factory=OverlapConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    predict: PredictConfig = Field(default_factory=PredictConfig)
    worktree: WorktreeConfig = Field(default_factory=WorktreeConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    executor: Literal["local", "ray"] = "local"
    ray: configtables.RayConfig = Field(default_factory=configtables.RayConfig)

    @model_validator(mode="after")
    def _ports_fit(self) -> Config:
        """Every slot's port range must be a real port range."""
        wt = self.worktree
        if problem := ports_problem(wt.port_base, wt.port_stride, self.instances):
            raise ValueError(f"[worktree] {problem}; lower port_base or port_stride")
        return self

    def usage_format(self, agent: str) -> str | None:
        """Where an agent type's token counts and cost are read from, besides its marker."""
        config = self.agents[agent]
        if config.usage_from is not None:
            return config.usage_from
        return config.profile if config.profile in READERS else None

    def agent_cap(self, agent: str, instances: int | None = None) -> int:
        """Per-type cap; a type without ``instances`` may use every global slot (the run's
        ``instances``, e.g. ``--instances``, else the configured number)."""
        slots = instances or self.instances
        configured = self.agents[agent].instances if agent in self.agents else None
        return min(configured or slots, slots)

    def isolation_of(self, agent: str) -> Isolation:
        """The agent type's ``isolation``, else the top-level one."""
        own = self.agents[agent].isolation if agent in self.agents else None
        return own or self.isolation

    def pool_size(self, instances: int) -> int:
        """Idle worktrees kept warm for reuse: ``worktree_pool``, by default one per instance
        of the run (what finishes while the others run is what the next starts need)."""
        return instances if self.worktree_pool is None else self.worktree_pool


_FIXES = {
    **configtables.RAY_FIXES,
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
    "prompt_template": "write a file path relative to the repository root, e.g. "
    'prompt_template = "prompts/coder.md"',
    "merge": "write a [merge] table with verify, verify_timeout, parallel, batch and resolver",
    "daemon": "write a [daemon] table with notify and debounce",
    "predict": "write a [predict] table, e.g. history = false (see the README)",
    "overlap": "write an [overlap] table with shared, union and mode",
    "shared": 'write a list of repository-relative globs, e.g. shared = ["CHANGES*"]',
    "union": 'write a list of repository-relative globs, e.g. union = ["CHANGES*"]',
    "mode": 'write "files" or "optimistic"',
    "footprint": 'write "infer", "mentioned" or "declared"',
    "unknown_footprint": 'write "exclusive" or "shared"',
    "on_violation": 'write "warn" or "fail"',
    "on_conflict": 'write "retry", "stop" or "resolve"',
    "resolver": 'write the name of an [agents.NAME] table, e.g. resolver = "claude"',
    "checkout": 'write "full" or "sparse"',
    "isolation": 'write "worktree", "clone" or "sandbox"',
    "setup": 'write an argv list, e.g. setup = ["npm", "ci"]',
    "setup_timeout": MAX_DURATION_HELP,
    "retry_delay": MAX_DURATION_HELP,
    "retries": "write a whole number from 0 to 100",
    "copy": 'write repository paths or globs, e.g. copy = [".env*"]',
    "link": 'write repository paths, e.g. link = ["node_modules"]',
    "port_base": "write a port number from 1 to 65535",
    "port_stride": "write a whole number of at least 1",
    "min_free_memory": "write a number of bytes, 0 or more",
    "max_load": "write the 1-minute load per core above which no task starts, e.g. 1.5",
    "max_cost_usd": "write an amount in US dollars, e.g. 5.0",
    "max_tokens": "write a whole number of tokens, e.g. 2000000",
    "usage_from": f"write one of {', '.join(repr(n) for n in READERS)}",
    "worktree": "write a [worktree] table with setup, copy, link, port_base...",
    "budget": "write a [budget] table with max_cost_usd and/or max_tokens",
    "notify.command": 'write an argv list, e.g. command = ["notify-send", "coordinator"]',
    "notify.timeout": MAX_DURATION_HELP,
    "events": "write a list of task_failed, task_conflict, task_tampered, run_finished",
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
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            current = annotation
        elif args and isinstance(args[-1], type) and issubclass(args[-1], BaseModel):
            current = args[-1]  # dict[str, AgentConfig]: skip the key
        else:
            current = None
    fields = current.model_fields.items() if current is not None else ()
    return [info.alias or name for name, info in fields]


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
    ``agents.x.command.0`` gets ``command``'s, so no config error is left without a fix; a
    ``table.key`` entry (``notify.command``) wins over the bare key."""
    names = [str(part) for part in loc]
    for i in range(len(names) - 1, -1, -1):
        for key in (".".join(names[i - 1 : i + 1]) if i else "", names[i]):
            if key in _FIXES:
                return _FIXES[key]
    return None


def parse_config(data: dict[str, Any], source: str) -> Config:
    """Validate raw TOML data; every problem becomes one line naming ``source`` and the field."""
    try:
        config = Config.model_validate(data)
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
    _check_resolver(config, source)
    return config


def _check_resolver(config: Config, source: str) -> None:
    """``on_conflict = "resolve"`` needs ``[merge] resolver`` naming a configured agent type,
    checked when the config is read rather than at the first conflict, mid-run."""
    resolver = config.merge.resolver
    known = ", ".join(sorted(config.agents)) or "none configured"
    fix = f'write resolver = "<agent type>" under [merge]; agent types: {known}'
    if config.on_conflict == "resolve" and resolver is None:
        message = 'on_conflict = "resolve" needs a resolver agent type'
        raise InputError([Problem(source, "merge.resolver", message, fix)])
    if resolver is not None and resolver not in config.agents:
        message = f"{resolver!r} names no agent type"
        raise InputError([Problem(source, "merge.resolver", message, fix)])
