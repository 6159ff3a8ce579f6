"""The fields of a spec: validation of each value, and building a ``TaskSpec`` from them.

Shared by both spec formats (markdown front matter and workflow ``tasks:`` entries). Every field
problem becomes one ``Problem`` naming the field and a fix; pydantic collects them all, so a user
sees every mistake of a file at once.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterable
from typing import Annotated, Any, Final, NoReturn, TypedDict, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from coordinator.core.durations import DURATION_HELP, parse_duration
from coordinator.core.models import FootprintMode, TaskSpec
from coordinator.core.rules import (
    glob_problem,
    id_problem,
    normalise_path,
    validate_id,
    validate_repo_path,
)
from coordinator.errors import Problem, one_line

MAX_TITLE_LENGTH: Final = 72
_PATH_FIX: Final = "use a path relative to the repository root, with '/' between directories"
_GLOB_FIX: Final = "globs may use *, ?, [...] and ** as a whole segment, as in 'src/**/*.py'"
_TEXT_FIX: Final = "put the value in quotes"
_MISSING_FIX: Final = {"agent": "add 'agent: NAME', naming an agent configured under [agents]"}
_SYNONYMS: Final = {
    "name": "id", "dep": "depends_on", "deps": "depends_on", "needs": "depends_on",
    "requires": "depends_on", "after": "depends_on", "paths": "files", "body": "task",
    "instructions": "task",
}  # fmt: skip
_BODY_KEYS: Final = frozenset({"task", "prompt", "description", "body", "instructions"})
# The longest duration taken anywhere (a year). Timeouts become timer deadlines and estimates
# are summed by the simulation; ``1.0e300`` seconds would overflow both mid-run.
MAX_DURATION: Final = 365 * 24 * 3600.0
MAX_DURATION_HELP: Final = f"{DURATION_HELP}, at most a year ({MAX_DURATION:.0f}s)"
MAX_PRIORITY: Final = 2**53
_PRIORITY_FIX: Final = f"write a number from -{MAX_PRIORITY} to {MAX_PRIORITY}; only order matters"
NUL_FIX: Final = "remove the NUL character: agents get this text as an argument or a file"


def _fail(message: str, fix: str | None = None) -> NoReturn:
    """Raise a validation error carrying our own message and fix (read back in ``_problem``)."""
    raise PydanticCustomError("spec", "{message}", {"message": message, "fix": fix})


def _show(value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else repr(value)
    return one_line(text if len(text) <= 40 else text[:37] + "...")


def value_kind(value: object) -> str:
    kinds = ((bool, "a boolean"), (int | float, "a number"), (str, "text"), (list, "a list"))
    return next((name for cls, name in kinds if isinstance(value, cls)), "a mapping")


def _text(value: object) -> str:
    """Text also takes YAML integers (``id: 123`` is ``"123"``); anything else is a mistake.

    A NUL (YAML's ``"\\0"``) is refused here: it cannot be passed in an argv or environment
    and would truncate a commit message, so it would otherwise fail mid-run.
    """
    if isinstance(value, str):
        if "\0" in value:
            _fail(nul_message(value, "of the value"), NUL_FIX)
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None:
        _fail("is empty", "write a value or remove the entry")
    _fail(f"{_show(value)} is {value_kind(value)}, not text", _TEXT_FIX)


def _task_id(value: object) -> str:
    text = _text(value)
    if validate_id(text):
        _fail(*id_problem(text))
    return text


def _agent(value: object) -> str:
    text = _text(value).strip()
    if not text:
        _fail("is empty", _MISSING_FIX["agent"])
    return text


def _pattern(value: object) -> str:
    text = _text(value)
    if problem := validate_repo_path(text):
        _fail(f"{text!r} {problem}", _PATH_FIX)
    if problem := glob_problem(text):
        _fail(f"{text!r} is not a valid glob: {problem}", _GLOB_FIX)
    return normalise_path(text)


def _one_or_many(value: object) -> list[object]:
    """A list as is; a single string or number as a one-item list."""
    if isinstance(value, list):
        return value
    if isinstance(value, str | int) and not isinstance(value, bool):
        return [value]
    _fail(f"{_show(value)} is {value_kind(value)}, not a list", "write a list such as [a, b]")


def _priority(value: object) -> int:
    """A whole number the scheduler can compare as a float without loss (|p| <= 2**53)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_PRIORITY:
            _fail(f"{_show(value)} is too large", _PRIORITY_FIX)
        return value
    _fail(
        f"{_show(value)} is {value_kind(value)}, not a whole number",
        "write e.g. 1; higher go first",
    )


def bounded_duration(value: object) -> float:
    """``parse_duration`` capped at ``MAX_DURATION``; ``ValueError`` says what is wrong (the
    caller's fix says what is accepted, so the help is not repeated in the message)."""
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ValueError(f"{_show(value)} is not a duration") from None
    if seconds > MAX_DURATION:
        raise ValueError(f"{_show(value)} is longer than a year")
    return seconds


def _duration(value: object) -> float:
    try:
        return bounded_duration(value)
    except ValueError as exc:
        _fail(str(exc), MAX_DURATION_HELP)


def _timeout(value: object) -> float:
    seconds = _duration(value)
    if seconds == 0:
        _fail("a timeout of zero would stop the agent at once", MAX_DURATION_HELP)
    return seconds


def _footprint(value: object) -> FootprintMode:
    if value == "infer":
        return "infer"
    if value == "declared":
        return "declared"
    if value == "mentioned":
        return "mentioned"
    _fail(f"{_show(value)} is not a footprint mode", 'write "infer", "mentioned" or "declared"')


Text = Annotated[str | None, BeforeValidator(_text)]
_Id = Annotated[str, BeforeValidator(_task_id)]
Ids = Annotated[tuple[_Id, ...], BeforeValidator(_one_or_many)]


class FrontMatter(BaseModel):
    """The keys of a markdown spec's front matter (None-valued keys are dropped beforehand)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str | None, BeforeValidator(_task_id)] = None
    agent: Annotated[str, BeforeValidator(_agent)]
    depends_on: Ids = ()
    files: Annotated[
        tuple[Annotated[str, BeforeValidator(_pattern)], ...], BeforeValidator(_one_or_many)
    ] = ()
    priority: Annotated[int, BeforeValidator(_priority)] = 0
    timeout: Annotated[float | None, BeforeValidator(_timeout)] = None
    estimate: Annotated[float | None, BeforeValidator(_duration)] = None
    footprint: Annotated[FootprintMode | None, BeforeValidator(_footprint)] = None
    title: Text = None


_M = TypeVar("_M", bound=FrontMatter)


def validate_fields(
    model: type[_M], data: dict[Any, Any], source: str, prefix: str = ""
) -> tuple[_M | None, list[Problem]]:
    """Validate a mapping against ``model``; every field problem becomes one Problem."""
    known = model.model_fields
    cleaned = {str(k): v for k, v in data.items() if not (v is None and str(k) in known)}
    try:
        return model.model_validate(cleaned), []
    except ValidationError as exc:
        return None, [_problem(err, source, prefix, list(known)) for err in exc.errors()]


def _problem(err: ErrorDetails, source: str, prefix: str, known: list[str]) -> Problem:
    loc = err["loc"]
    field = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)[1:]
    field = field if field.isprintable() else repr(field)
    key = str(loc[0]) if loc else ""
    if err["type"] == "extra_forbidden":
        return Problem(source, field, "unknown field", _suggest_field(key, known))
    if err["type"] == "missing":
        return Problem(source, field, "required, but missing", _MISSING_FIX.get(key))
    ctx = err.get("ctx") or {}
    return Problem(source, field, str(ctx.get("message", err["msg"])), ctx.get("fix"))


def _suggest_field(key: str, known: list[str]) -> str:
    if key in _BODY_KEYS and "task" not in known:
        return "write the instructions below the front matter, not in it"
    close = [_SYNONYMS[key]] if _SYNONYMS.get(key) in known else []
    close = close or difflib.get_close_matches(key, known, n=1)
    return f"did you mean {close[0]!r}?" if close else f"remove it; known: {', '.join(known)}"


# --- building specs ------------------------------------------------------------------------------


def tidy_body(body: str) -> str:
    """Drop leading blank lines and trailing whitespace; otherwise the text stays literal."""
    lines = body.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    text = "\n".join(lines).rstrip()
    return text + "\n" if text else ""


def derive_title(body: str, fallback: str) -> str:
    """The first heading outside code fences, else the first prose line, else ``fallback``."""
    fence = ""
    first_line = ""
    for line in body.split("\n"):
        marker = re.match(r" {0,3}(`{3,}|~{3,})", line)
        if marker and (not fence or marker.group(1).startswith(fence)):
            fence = "" if fence else marker.group(1)
            continue
        if fence or not line.strip():
            continue
        heading = re.match(r" {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$", line)
        if heading and heading.group(1):
            return _short(heading.group(1))
        first_line = first_line or line
    return _short(first_line) if first_line else fallback


def _short(text: str) -> str:
    text = one_line(text)
    return text if len(text) <= MAX_TITLE_LENGTH else text[: MAX_TITLE_LENGTH - 1].rstrip() + "…"


_T = TypeVar("_T")


def _unique(items: Iterable[_T]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys(items))


def build_spec(
    fields: FrontMatter, *, task_id: str, body: str, source: str, order: int,
    depends_on: tuple[str, ...], title: str | None = None,
) -> TaskSpec:  # fmt: skip
    """A ``TaskSpec`` from validated fields, with its title defaulted and its digest computed."""
    defining = _Defining(
        id=task_id,
        agent=fields.agent,
        body=body,
        title=one_line(title or "") or derive_title(body, task_id),
        depends_on=_unique(depends_on),
        files=_unique(fields.files),
        priority=fields.priority,
        timeout=fields.timeout,
        estimate=fields.estimate,
        footprint_mode=fields.footprint,
    )
    return TaskSpec(**defining, source=source, order=order, digest=_digest(defining))


class _Defining(TypedDict):
    """The ``TaskSpec`` fields that define a task, and so its digest."""

    id: str
    agent: str
    body: str
    title: str
    depends_on: tuple[str, ...]
    files: tuple[str, ...]
    priority: int
    timeout: float | None
    estimate: float | None
    footprint_mode: FootprintMode | None


def spec_digest(spec: TaskSpec) -> str:
    """sha256 of a canonical JSON of what defines the task.

    Parsed values are hashed, not text, so reformatting YAML (or ``1m`` for ``60s``) keeps the
    digest; ``source`` and ``order`` are left out because moving a file does not change the task.
    """
    return _digest(
        _Defining(
            id=spec.id, agent=spec.agent, body=spec.body, title=spec.title,
            depends_on=spec.depends_on, files=spec.files, priority=spec.priority,
            timeout=spec.timeout, estimate=spec.estimate, footprint_mode=spec.footprint_mode,
        )
    )  # fmt: skip


def _digest(spec: _Defining) -> str:
    payload = {
        "id": spec["id"], "agent": spec["agent"], "body": spec["body"], "title": spec["title"],
        "depends_on": sorted(spec["depends_on"]), "files": sorted(spec["files"]),
        "priority": spec["priority"], "timeout": spec["timeout"], "estimate": spec["estimate"],
        "footprint": spec["footprint_mode"],
    }  # fmt: skip
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def nul_message(text: str, of: str) -> str:
    """Where the first NUL of ``text`` is, as a line and column a user can find."""
    before = text[: text.index("\0")]
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return f"contains a NUL character at line {line}, column {column} {of}"


def empty_body(source: str, field: str, where: str) -> Problem:
    fix = f"write the instructions for the agent {where}"
    return Problem(source, field, "the body is empty", fix)
