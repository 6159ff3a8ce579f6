"""Workflow YAML files: several tasks in one file, under a top-level ``tasks:`` list.

This is the shape AutomatosX and spec-kit workflows use, so their aliases are accepted: ``name``
for ``id``, ``prompt`` for ``task`` (the body), ``dependencies`` for ``depends_on``. Other
top-level keys (``name``, ``version``, ``settings``...) belong to those tools and are ignored.
"""

from __future__ import annotations

import difflib
from typing import Any

from coordinator.core.fields import (
    FrontMatter,
    Ids,
    Text,
    build_spec,
    empty_body,
    tidy_body,
    validate_fields,
)
from coordinator.core.models import TaskSpec
from coordinator.core.rules import id_problem, validate_id
from coordinator.core.yamlload import load_yaml
from coordinator.errors import InputError, Problem

_TASKS_FIX = "add a top-level 'tasks:' list of entries with id or name, agent and task"
_ALIASES = (("task", "prompt"), ("depends_on", "dependencies"))


class WorkflowTask(FrontMatter):
    """A ``tasks:`` entry: the front matter keys plus the aliases workflow files use."""

    name: Text = None
    task: Text = None
    prompt: Text = None
    dependencies: Ids = ()
    description: Text = None


def parse_workflow(text: str, source: str, *, order_start: int = 0) -> list[TaskSpec]:
    """Every task of a workflow file, or ``InputError`` with the problems of all its tasks."""
    data = load_yaml(text, source)
    tasks = _tasks_list(data, source)
    specs: list[TaskSpec] = []
    problems: list[Problem] = []
    for index, entry in enumerate(tasks):
        try:
            specs.append(_parse_task(entry, source, index, order_start + index))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return specs


def _tasks_list(data: object, source: str) -> list[Any]:
    if isinstance(data, list):
        fix = "put the list under a top-level 'tasks:' key"
        raise InputError(Problem(source, None, "the file is a list, not a mapping", fix))
    mapping = data if isinstance(data, dict) else {}
    tasks = mapping.get("tasks")
    if isinstance(tasks, list):
        return tasks
    if "tasks" in mapping:
        raise InputError(Problem(source, "tasks", "is not a list", _TASKS_FIX))
    close = difflib.get_close_matches("tasks", [str(k) for k in mapping], n=1)
    fix = f"rename {close[0]!r} to 'tasks'" if close else _TASKS_FIX
    raise InputError(Problem(source, "tasks", "no 'tasks:' list", fix))


def _parse_task(entry: object, source: str, index: int, order: int) -> TaskSpec:
    """One entry; problems in the raw mapping and in its fields are reported together."""
    prefix = f"tasks[{index}]"
    if not isinstance(entry, dict):
        fix = "write each task as 'key: value' lines after '- '"
        raise InputError(Problem(source, prefix, "is not a mapping", fix))
    problems = _shape_problems(entry, source, prefix)
    fields, field_problems = validate_fields(WorkflowTask, entry, source, prefix + ".")
    problems += field_problems
    if fields is None or problems:
        raise InputError(problems)
    task_id = fields.id or fields.name or ""
    if fields.id is None and validate_id(task_id):
        message, fix = id_problem(
            task_id, "add 'id: {id}', as a name without an id is used as the id"
        )
        raise InputError(Problem(source, f"{prefix}.name", message, fix))
    texts = (fields.task or fields.prompt, fields.description)
    body = tidy_body("\n\n".join(text for text in texts if text))
    return build_spec(
        fields, task_id=task_id, body=body, source=source, order=order,
        depends_on=fields.depends_on or fields.dependencies,
        title=fields.title or (fields.name if fields.id is not None else None),
    )  # fmt: skip


def _shape_problems(entry: dict[Any, Any], source: str, prefix: str) -> list[Problem]:
    """What the field model cannot see: a missing id, two aliases at once, an empty body."""
    given = {str(k) for k, v in entry.items() if v is not None}
    problems = []
    if not given & {"id", "name"}:
        fix = "add 'id: NAME' or 'name: NAME'"
        problems.append(Problem(source, prefix, "the task has neither id nor name", fix))
    for first, second in _ALIASES:
        if {first, second} <= given:
            fix = f"keep {first!r} or {second!r}, not both"
            problems.append(Problem(source, f"{prefix}.{second}", f"conflicts with {first!r}", fix))
    texts = [entry.get(key) for key in ("task", "prompt", "description")]
    if not any(not isinstance(t, str) or t.strip() for t in texts if t is not None):
        problems.append(empty_body(source, f"{prefix}.task", "under 'task:'"))
    return problems
