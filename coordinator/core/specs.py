"""Task specs from text: markdown with YAML front matter, or a workflow YAML ``tasks:`` list.

Parsing is pure (text in, ``TaskSpec`` list or ``InputError`` out), so ``validate`` can run in CI
and the tests need no disk. Each problem is one ``Problem`` line naming the file, the field and a
fix, and a file's problems are reported together: fixing specs one error per run is tedious.
This module reads a file by its kind and checks what needs every spec at once; the field rules
are in ``fields``, the id and path rules in ``rules``.
"""

from __future__ import annotations

import difflib
import posixpath
from collections.abc import Collection, Sequence
from typing import Final

from coordinator.core.fields import (
    NUL_FIX,
    FrontMatter,
    build_spec,
    empty_body,
    nul_message,
    tidy_body,
    validate_fields,
    value_kind,
)
from coordinator.core.flatyaml import read_flat
from coordinator.core.models import TaskSpec
from coordinator.core.rules import id_problem, validate_id
from coordinator.core.workflow import parse_workflow
from coordinator.core.yamlload import load_yaml
from coordinator.errors import InputError, Problem

SPEC_SUFFIXES: Final = (".md", ".markdown", ".yaml", ".yml")
MARKDOWN_SUFFIXES: Final = (".md", ".markdown")


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
        raise InputError(Problem(source, None, f"the front matter is {value_kind(data)}", fix))
    body = tidy_body(raw_body)
    problems = [] if body.strip() else [empty_body(source, "body", "below the front matter")]
    if "\0" in raw_body:  # the front matter has none: the YAML reader refuses control characters
        problems.append(Problem(source, "body", nul_message(text, "of the file"), NUL_FIX))
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
