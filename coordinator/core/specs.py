"""Task specs from text: markdown with YAML front matter, or a workflow YAML ``tasks:`` list.

Parsing is pure (text in, ``TaskSpec`` list or ``InputError`` out), so ``validate`` can run in CI
and the tests need no disk. Each problem is one ``Problem`` line naming the file, the field and a
fix, and a file's problems are reported together: fixing specs one error per run is tedious.
Ids and paths are checked strictly here because they later become branch names, directories and
arguments of git commands.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import posixpath
import re
import unicodedata
from collections.abc import Collection, Hashable, Iterable, Sequence
from typing import Annotated, Any, Final, NoReturn, TypedDict, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from coordinator.core.durations import DURATION_HELP, parse_duration
from coordinator.core.flatyaml import read_flat
from coordinator.core.models import FootprintMode, TaskSpec
from coordinator.errors import InputError, Problem

SPEC_SUFFIXES: Final = (".md", ".markdown", ".yaml", ".yml")
MARKDOWN_SUFFIXES: Final = (".md", ".markdown")
MAX_ID_LENGTH: Final = 64
MAX_TITLE_LENGTH: Final = 72
ID_RULE: Final = "ids use a-z, 0-9, '.', '_' and '-', start with a letter or digit, at most 64 long"
_ID_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
# Shapes that pass every rule below, matched in one step (plans of 10,000 tasks check 30,000
# ids and 20,000 paths). No '.' in ids rules out '..' and '.lock'; no segment of a plain path
# starts with '.', which rules out '..' and '.git'.
_PLAIN_ID: Final = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{MAX_ID_LENGTH - 1}}}")
_SEGMENT: Final = r"[A-Za-z0-9_*?-][A-Za-z0-9_.*?-]*"
_PLAIN_PATH: Final = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_DRIVE: Final = re.compile(r"[A-Za-z]:")
_PATH_FIX: Final = "use a path relative to the repository root, with '/' between directories"
_GLOB_FIX: Final = "globs may use *, ?, [...] and ** as a whole segment, as in 'src/**/*.py'"
_YAML_FIX: Final = "fix the YAML; quote values that contain ': ' or ' #' or start with [ { * & !"
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
_NUL_FIX: Final = "remove the NUL character: agents get this text as an argument or a file"


# --- ids and paths: the rules the rest of the tool relies on ------------------------------------


def validate_id(task_id: str) -> str | None:
    """Why ``task_id`` cannot be a task id, or None when it can.

    Ids become branch names (``coordinator/task/<id>``), worktree directories and log file names,
    so they keep to what git and file systems take without quoting: no leading ``-`` (it would
    read as an option), no ``..`` (a ref rule and a path escape), no ``.lock`` or trailing ``.``
    (git refuses both) and not ``head``, which is too easily confused with git's ``HEAD``.
    """
    if _PLAIN_ID.fullmatch(task_id) and task_id != "head":
        return None
    if not task_id:
        return "is empty"
    if len(task_id) > MAX_ID_LENGTH:
        return f"has {len(task_id)} characters (at most {MAX_ID_LENGTH})"
    bad = next((char for char in task_id if char not in _ID_CHARS), None)
    if bad is not None:
        return f"contains {bad!r}"
    checks = (
        (task_id[0] in "._-", f"starts with {task_id[0]!r}"),
        (".." in task_id, "contains '..'"),
        (task_id.endswith(".lock"), "ends in '.lock', which git reserves"),
        (task_id.endswith("."), "ends in '.', which git refuses in branch names"),
        (task_id == "head", "is reserved: too close to git's HEAD"),
    )
    return next((reason for failed, reason in checks if failed), None)


def suggest_id(text: str) -> str | None:
    """A valid id resembling ``text`` (``"Build Parser"`` -> ``"build-parser"``), if any."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9._-]+", "-", ascii_text)
    slug = re.sub(r"\.{2,}", ".", re.sub(r"-{2,}", "-", slug)).strip("._-")
    slug = slug.removesuffix(".lock")[:MAX_ID_LENGTH].rstrip("._-")
    slug = "head-task" if slug == "head" else slug
    return slug if validate_id(slug) is None else None


def id_problem(value: str, remedy: str | None = None) -> tuple[str, str]:
    """Message and fix for an invalid id: the reason; then a remedy and the rule.

    ``remedy`` is a template whose ``{id}`` is the suggested id (``NAME`` when nothing fits);
    by default the fix just proposes the suggestion.
    """
    suggestion = suggest_id(value)
    if remedy is not None:
        action = remedy.format(id=suggestion or "NAME")
    else:
        action = f"try {suggestion!r}" if suggestion else ""
    fix = f"{action}; {ID_RULE}" if action else ID_RULE
    return f"invalid id {value!r}: {validate_id(value)}", fix


def validate_repo_path(path: str) -> str | None:
    """Why ``path`` is not a safe repository-relative path, or None when it is.

    Footprints and config directories are joined to the repository root and handed to git, so a
    path must not leave the repository, reach into ``.git`` or mean something else on Windows.
    """
    if _PLAIN_PATH.fullmatch(path):
        return None
    parts = path.split("/")
    checks = (
        (not path.strip(), "is empty"),
        ("\x00" in path, "contains a NUL character"),
        ("\\" in path, "contains a backslash (separate directories with '/')"),
        (path.startswith("/") or _DRIVE.match(path) is not None, "is absolute"),
        (path.startswith("~"), "starts with '~' (a home directory, not a repository path)"),
        (".." in parts, "has a '..' segment, which leads out of the repository"),
        (any(part.lower() == ".git" for part in parts), "points into .git/"),
    )
    return next((reason for failed, reason in checks if failed), None)


def _glob_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a footprint glob; ``[`` must close within its segment."""
    for segment in pattern.split("/"):
        if "**" in segment and segment != "**":
            return f"'**' must be a whole path segment, not part of {segment!r}"
        start = segment.find("[")
        while start != -1:
            end = _class_end(segment, start)
            if end is None:
                return f"the '[' in {segment!r} is never closed; '[[]' is a literal '['"
            start = segment.find("[", end)
    return None


def _class_end(segment: str, start: int) -> int | None:
    """Index after the ``]`` closing the class at ``start`` (fnmatch rules: ``[]a]``, ``[!a]``)."""
    i = start + 1
    i += i < len(segment) and segment[i] in "!^"
    i += i < len(segment) and segment[i] == "]"
    close = segment.find("]", i)
    return None if close == -1 else close + 1


def _normalise_path(path: str) -> str:
    """``./x`` -> ``x``; ``dir/`` -> ``dir/**`` (a trailing slash means "everything under")."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if (path.endswith("/") or not parts) and parts[-1:] != ["**"]:
        parts.append("**")
    return "/".join(parts)


# --- YAML ----------------------------------------------------------------------------------------

_YAML11_SCALARS: Final = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float", "timestamp")
)


class _SpecLoader(yaml.SafeLoader):
    """``SafeLoader`` with YAML 1.2 scalars, refusing repeated keys.

    YAML 1.1 reads ``yes``/``no``/``on``/``off`` as booleans, ``1:30`` as 90, ``0123`` as octal and
    ``2024-01-01`` as a date; in a spec these are ids, agent names and durations meant literally.
    Here only ``true``/``false`` and plain decimal numbers are not strings. A repeated key would
    silently drop the first value, so it is an error.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[str] = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if key.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key.value!r}", key.start_mark
                    )
                seen.add(key.value)
        # Named, not super(): the libyaml loader below borrows this method.
        mapping: dict[Hashable, Any] = yaml.constructor.SafeConstructor.construct_mapping(
            self, node, deep
        )
        return mapping


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag not in _YAML11_SCALARS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _regex, _first in (
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("int", r"[-+]?(?:0|[1-9][0-9]*)", "-+0123456789"),
    ("float", r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
     r"|\.(?:nan|NaN|NAN)", "-+0123456789."),
):  # fmt: skip
    _SpecLoader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_tag}", re.compile(rf"^(?:{_regex})$"), list(_first)
    )


# libyaml's parser, when installed, reads front matter about 8x faster than the pure-Python one
# (it matters for 10,000-task plans); the same rules ride on it. Its error marks are less exact,
# so a document it refuses is parsed again by the pure-Python loader for the message.
_FastLoader: type[yaml.CSafeLoader] | None = None
if hasattr(yaml, "CSafeLoader"):

    class _CSpecLoader(yaml.CSafeLoader):
        construct_mapping = _SpecLoader.construct_mapping
        yaml_implicit_resolvers = _SpecLoader.yaml_implicit_resolvers

    _FastLoader = _CSpecLoader


def load_yaml(text: str, source: str, *, first_line: int = 1) -> object:
    """Parse one YAML document; errors become a Problem with the line number in the file.

    ``first_line`` is the file line where ``text`` starts (2 for front matter).
    """
    if _FastLoader is not None:
        fast = _FastLoader(text)
        try:
            return fast.get_single_data()
        except (yaml.YAMLError, RecursionError):
            pass  # fall through for the exact message
        finally:
            fast.dispose()
    loader = None
    try:
        loader = _SpecLoader(text)  # the reader already refuses control characters here
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        raise InputError(Problem(source, None, _yaml_message(exc, first_line), _YAML_FIX)) from None
    except yaml.YAMLError as exc:
        message = _one_line(f"invalid YAML: {exc}")
        raise InputError(Problem(source, None, message, _YAML_FIX)) from None
    except RecursionError:
        raise InputError(Problem(source, None, "YAML nested too deeply", _YAML_FIX)) from None
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_message(exc: yaml.MarkedYAMLError, first_line: int) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + first_line}, column {mark.column + 1}" if mark else ""
    text = f"invalid YAML{where}: {exc.problem or exc.context or 'syntax error'}"
    if exc.context and exc.problem and exc.context_mark:
        text += f", {exc.context} from line {exc.context_mark.line + first_line}"
    return _one_line(text)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- field models --------------------------------------------------------------------------------


def _fail(message: str, fix: str | None = None) -> NoReturn:
    """Raise a validation error carrying our own message and fix (read back in ``_problem``)."""
    raise PydanticCustomError("spec", "{message}", {"message": message, "fix": fix})


def _show(value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else repr(value)
    return _one_line(text if len(text) <= 40 else text[:37] + "...")


def _kind(value: object) -> str:
    kinds = ((bool, "a boolean"), (int | float, "a number"), (str, "text"), (list, "a list"))
    return next((name for cls, name in kinds if isinstance(value, cls)), "a mapping")


def _text(value: object) -> str:
    """Text also takes YAML integers (``id: 123`` is ``"123"``); anything else is a mistake.

    A NUL (YAML's ``"\\0"``) is refused here: it cannot be passed in an argv or environment
    and would truncate a commit message, so it would otherwise fail mid-run.
    """
    if isinstance(value, str):
        if "\0" in value:
            _fail(nul_message(value, "of the value"), _NUL_FIX)
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None:
        _fail("is empty", "write a value or remove the entry")
    _fail(f"{_show(value)} is {_kind(value)}, not text", _TEXT_FIX)


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
    if problem := _glob_problem(text):
        _fail(f"{text!r} is not a valid glob: {problem}", _GLOB_FIX)
    return _normalise_path(text)


def _one_or_many(value: object) -> list[object]:
    """A list as is; a single string or number as a one-item list."""
    if isinstance(value, list):
        return value
    if isinstance(value, str | int) and not isinstance(value, bool):
        return [value]
    _fail(f"{_show(value)} is {_kind(value)}, not a list", "write a list such as [a, b]")


def _priority(value: object) -> int:
    """A whole number the scheduler can compare as a float without loss (|p| <= 2**53)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_PRIORITY:
            _fail(f"{_show(value)} is too large", _PRIORITY_FIX)
        return value
    _fail(f"{_show(value)} is {_kind(value)}, not a whole number", "write e.g. 1; higher go first")


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
    _fail(f"{_show(value)} is not a footprint mode", 'write "infer" or "declared"')


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
    text = _one_line(text)
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
        title=_one_line(title or "") or derive_title(body, task_id),
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


# --- markdown and dispatch -----------------------------------------------------------------------


def parse_spec_file(text: str, source: str, *, order_start: int = 0) -> list[TaskSpec]:
    """Parse one spec file by its suffix; raise ``InputError`` listing all of its problems.

    ``source`` is the repo-relative POSIX path, used in messages and as the default id's stem.
    """
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    suffix = posixpath.splitext(source)[1].lower()
    if suffix in MARKDOWN_SUFFIXES:
        return [_parse_markdown(text, source, order_start)]
    if suffix in SPEC_SUFFIXES:
        from coordinator.core.workflow import parse_workflow  # noqa: PLC0415 - it imports us

        return parse_workflow(text, source, order_start=order_start)
    raise InputError(
        Problem(source, None, "not a spec file", "name it *.md, *.markdown, *.yaml or *.yml")
    )


def _split_front_matter(text: str, source: str) -> tuple[str, str]:
    lines = text.split("\n")
    if lines[0].rstrip() != "---":
        fix = "start the file with a '---' line, then 'agent: NAME', a '---' line and the body"
        raise InputError(Problem(source, None, "no front matter", fix))
    end = next((i for i, line in enumerate(lines) if i and line.rstrip() == "---"), None)
    if end is None:
        fix = "end the front matter with a '---' line before the instructions"
        raise InputError(Problem(source, None, "the front matter (line 1) is never closed", fix))
    return "\n".join(lines[1:end]), "\n".join(lines[end + 1 :])


def _parse_markdown(text: str, source: str, order: int) -> TaskSpec:
    front, raw_body = _split_front_matter(text, source)
    data: object = read_flat(front)
    if data is None:
        data = load_yaml(front, source, first_line=2)
    if not isinstance(data, dict | None):
        fix = "write 'key: value' lines, such as 'agent: coder'"
        raise InputError(Problem(source, None, f"the front matter is {_kind(data)}", fix))
    body = tidy_body(raw_body)
    problems = [] if body.strip() else [empty_body(source, "body", "below the front matter")]
    if "\0" in raw_body:  # the front matter has none: the YAML reader refuses control characters
        problems.append(Problem(source, "body", nul_message(text, "of the file"), _NUL_FIX))
    fields, field_problems = validate_fields(FrontMatter, data or {}, source)
    problems += field_problems
    stem = posixpath.splitext(posixpath.basename(source))[0]
    if fields is not None and fields.id is None and validate_id(stem):
        remedy = "add 'id: {id}' to the front matter or rename the file"
        message, fix = id_problem(stem, remedy)
        problems.append(Problem(source, "id", f"the file name gives an {message}", fix))
    if problems or fields is None:
        raise InputError(problems)
    task_id = fields.id or stem
    return build_spec(
        fields, task_id=task_id, body=body, source=source, order=order,
        depends_on=fields.depends_on, title=fields.title,
    )  # fmt: skip


def nul_message(text: str, of: str) -> str:
    """Where the first NUL of ``text`` is, as a line and column a user can find."""
    before = text[: text.index("\0")]
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return f"contains a NUL character at line {line}, column {column} {of}"


def empty_body(source: str, field: str, where: str) -> Problem:
    fix = f"write the instructions for the agent {where}"
    return Problem(source, field, "the body is empty", fix)


# --- cross-file checks ---------------------------------------------------------------------------


def validate_specs(specs: Sequence[TaskSpec], agents: Collection[str]) -> list[Problem]:
    """Checks that need every spec: duplicate ids, unknown agents and dependencies, self-loops.

    Cycles are left to ``graph.topo_order``, which can name the whole loop.
    """
    ids = {spec.id for spec in specs}
    known_agents = sorted(agents)
    first: dict[str, TaskSpec] = {}
    problems: list[Problem] = []
    for spec in specs:
        other = first.setdefault(spec.id, spec)
        if other is not spec:
            where = "another task in this file" if other.source == spec.source else other.source
            message = f"duplicate id {spec.id!r}, also in {where}"
            fix = "give each task its own id (a markdown spec's id defaults to its file name)"
            problems.append(Problem(spec.source, field_label(spec, "id"), message, fix))
        if spec.agent not in agents:
            problems.append(_unknown_agent(spec, known_agents))
        problems.extend(_dependency_problems(spec, ids))
    return problems


def field_label(spec: TaskSpec, name: str) -> str:
    """Field label; a workflow file holds many tasks, so its labels name the task."""
    suffix = posixpath.splitext(spec.source)[1].lower()
    return name if suffix in MARKDOWN_SUFFIXES else f"tasks[id={spec.id}].{name}"


def _unknown_agent(spec: TaskSpec, agents: list[str]) -> Problem:
    close = difflib.get_close_matches(spec.agent, agents, n=1)
    if close:
        fix = f"did you mean {close[0]!r}?"
    else:
        listed = f"; configured: {', '.join(agents)}" if agents else ""
        fix = f"add [agents.{spec.agent}] to coordinator.toml{listed}"
    return Problem(spec.source, field_label(spec, "agent"), f"unknown agent {spec.agent!r}", fix)


def _dependency_problems(spec: TaskSpec, ids: set[str]) -> list[Problem]:
    if all(dep in ids and dep != spec.id for dep in spec.depends_on):
        return []  # the common case, kept cheap: 10,000-task plans call this 10,000 times
    field = field_label(spec, "depends_on")
    problems = []
    for dep in spec.depends_on:
        if dep == spec.id:
            message, fix = f"task {dep!r} depends on itself", f"remove {dep!r} from depends_on"
        elif dep not in ids:
            close = difflib.get_close_matches(dep, sorted(ids - {spec.id}), n=1)
            message = f"unknown task {dep!r}"
            fix = f"did you mean {close[0]!r}?" if close else "name the id of another task"
        else:
            continue
        problems.append(Problem(spec.source, field, message, fix))
    return problems
