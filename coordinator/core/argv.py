"""Turn an agent's configured ``command`` into the argv and environment of one launch.

Pure functions: no I/O, no shell. Agents are started from an argv list, so a spec path, a task
id or a worktree path can never be interpreted by a shell, whatever characters it contains.

Rendering is a single pass over the *template*: a value is inserted literally and never scanned
again, so a value containing ``{marker}``, ``$(...)`` or backticks stays exactly that text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

# Each of these is also exported to the agent as ``COORDINATOR_<NAME>``; the first seven always
# are, ``slot`` and ``port`` (the running task's slot and first port) whenever a run gives them.
REQUIRED_ENV = ("task_id", "spec", "prompt_file", "worktree", "marker", "base", "run_id")
ENV_PLACEHOLDERS = (*REQUIRED_ENV, "slot", "port")
# ``{prompt}`` is the instructions as one argument (for CLIs that take the prompt inline; too
# large for the environment); ``{python}`` is the interpreter running the coordinator, so the
# built-in demo agent works from any virtualenv without PATH tricks.
PLACEHOLDERS = (*ENV_PLACEHOLDERS, "prompt", "python")

ENV_PREFIX = "COORDINATOR_"

# Linux refuses to start a program (E2BIG, seen as exit 127) when one argument is longer than
# MAX_ARG_STRLEN, 32 pages = 131072 bytes with its terminating NUL. Other systems cap the whole
# argv, at more than this. ``{prompt}`` puts a whole spec body into one argument, so that limit
# is checked when the specs are read rather than discovered when the agent fails to start.
MAX_ARGUMENT_BYTES = 131072 - 1

# What ``git rev-parse --local-env-vars`` prints (git 2.4x): variables that point git at one
# particular repository. Inherited from a coordinator that runs inside a git hook or an outer
# worktree, they would make ``git`` in the agent's worktree operate on the wrong repository.
GIT_LOCAL_ENV = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
    "GIT_QUARANTINE_PATH",
)
# ``GIT_CONFIG_COUNT`` comes with numbered ``GIT_CONFIG_KEY_<n>``/``GIT_CONFIG_VALUE_<n>`` pairs.
_GIT_LOCAL_PREFIXES = ("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")

# ``{{`` and ``}}`` are escaped braces, ``{name}`` a placeholder, any other brace an error.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def env_name(placeholder: str) -> str:
    """The variable carrying ``placeholder``: ``task_id`` -> ``COORDINATOR_TASK_ID``."""
    return ENV_PREFIX + placeholder.upper()


def _known() -> str:
    return ", ".join("{" + name + "}" for name in PLACEHOLDERS)


def _render_one(element: str, values: Mapping[str, str] | None) -> str:
    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name is None:
            raise ValueError(
                f"unmatched {token!r} in {element!r}; write {token * 2!r} for a literal brace"
            )
        if name not in PLACEHOLDERS:
            raise ValueError(
                f"unknown placeholder {{{name}}} in {element!r}; known placeholders: {_known()}"
            )
        if values is None:
            return ""
        if name not in values:
            raise ValueError(f"no value given for placeholder {{{name}}} in {element!r}")
        return values[name]

    rendered = _TOKEN.sub(substitute, element)
    if "\0" in rendered:
        raise ValueError(f"argument rendered from {element!r} contains a NUL byte")
    return rendered


def _check_sequence(template: Sequence[str]) -> None:
    # A str is a Sequence[str] too; "python agent.py" would become ["p", "y", ...].
    if isinstance(template, str):
        raise TypeError("an agent command must be a list of arguments, not one string")


def placeholders_in(template: Sequence[str]) -> set[str]:
    """The placeholder names ``template`` uses (``{{``/``}}`` escapes are not placeholders)."""
    _check_sequence(template)
    return {
        match.group(1)
        for element in template
        for match in _TOKEN.finditer(element)
        if match.group(1) is not None
    }


def check_template(template: Sequence[str]) -> None:
    """Raise ``ValueError`` for unknown placeholders or stray braces, before anything runs.

    The config loader can call this so that a typo such as ``{promt_file}`` is reported when
    the configuration is read rather than when the first agent starts.
    """
    _check_sequence(template)
    for element in template:
        _render_one(element, None)


def render_argv(template: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Replace ``{name}`` placeholders in each element of ``template`` with ``values[name]``.

    Each template element yields exactly one argument (an empty value gives an empty argument,
    never a dropped one). Raises ``ValueError`` naming the placeholder for an unknown name, a
    known name without a value, a stray ``{``/``}``, or a NUL byte in the result.
    """
    _check_sequence(template)
    return [_render_one(element, values) for element in template]


def _is_git_local(name: str) -> bool:
    return name in GIT_LOCAL_ENV or name.startswith(_GIT_LOCAL_PREFIXES)


def agent_env(
    base_env: Mapping[str, str], values: Mapping[str, str], extra: Mapping[str, str]
) -> dict[str, str]:
    """The environment for one agent: ``base_env`` minus repository-pinning git variables,
    plus ``extra`` (the agent type's configured ``env``), plus one ``COORDINATOR_*`` variable
    per placeholder.

    ``values`` must hold every placeholder. The ``COORDINATOR_*`` variables are applied last
    and cannot be overridden by ``extra``: ``COORDINATOR_TASK_ID`` and ``COORDINATOR_RUN_ID``
    are inherited by everything the agent starts, and that is how stray processes that escaped
    the agent's process tree are found and killed (``coordinator.io.procs``).
    """
    missing = [name for name in REQUIRED_ENV if name not in values]
    if missing:
        raise ValueError("agent_env needs a value for: " + ", ".join(missing))
    env = {key: value for key, value in base_env.items() if not _is_git_local(key)}
    env.update(extra)
    for name in ENV_PLACEHOLDERS:
        if name in values:
            env[env_name(name)] = values[name]
    for key, value in env.items():
        if "\0" in key or "\0" in value or "=" in key or not key:
            raise ValueError(f"environment variable {key!r} cannot be passed to a process")
    return env
