"""The agent's prompt: a template filled in with what the coordinator knows about the task.

An agent handed only the spec body does not know which files it is expected to change, what
the tasks it depends on changed, or how to say it is done. The default template tells it all
four; ``prompt_template = "path.md"`` in an agent table replaces it for that agent type.

Pure functions. Placeholders are ``{name}`` with a known lower-case name; ``{{`` and ``}}`` are
literal braces; any other brace is text as it is, so a template may show JSON such as
``{"status": "done"}`` without escaping. An unknown ``{name}`` is an error when the config is
read (a typo such as ``{instructons}`` would otherwise reach the agent). Rendering is one pass
over the template: a value is never scanned again, so spec text containing ``{marker}`` stays
that text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from coordinator.core.models import Footprint

PROMPT_PLACEHOLDERS = (
    "task_id",
    "title",
    "agent",
    "instructions",
    "footprint",
    "dependencies",
    "marker",
    "worktree",
    "spec",
    "base",
    "run_id",
)

DEFAULT_TEMPLATE = """\
# Task {task_id}

{instructions}

## Files you may change

{footprint}

You may change these files. If you need to change others, say which and why in your
completion summary: changes outside this list are flagged for review.

## What the tasks this one depends on changed

{dependencies}

## When you are done

Work only in this directory ({worktree}); commit if you like: whatever you leave is committed
for you. When the task is done, write the completion marker file {marker}: an empty file, or
{"status": "done", "summary": "what you did"}. If you cannot do it, write
{"status": "failed", "summary": "why"}. Exiting with status 0 also counts as done, any other
exit status as failed.
"""

# Most files listed per dependency; a dependency that rewrote a whole tree is summed up.
MAX_LISTED = 50

_TOKEN = re.compile(r"\{\{|\}\}|\{([a-z_]+)\}")


def template_problem(template: str) -> str | None:
    """Why ``template`` cannot be used (an unknown placeholder, a NUL), or None."""
    if "\0" in template:
        return "contains a NUL character"
    unknown = sorted(
        {m.group(1) for m in _TOKEN.finditer(template) if m.group(1)} - set(PROMPT_PLACEHOLDERS)
    )
    if unknown:
        known = ", ".join("{" + name + "}" for name in PROMPT_PLACEHOLDERS)
        names = ", ".join("{" + name + "}" for name in unknown)
        return f"unknown placeholder {names}; known: {known} ({{{{ and }}}} are literal braces)"
    return None


def render_prompt(template: str, values: Mapping[str, str]) -> str:
    """``template`` with every placeholder replaced; ``values`` must hold each one it uses."""

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name not in PROMPT_PLACEHOLDERS:
            return token  # refused when the config was read; kept as text if it gets here
        return values[name]

    return _TOKEN.sub(substitute, template)


def uses(template: str, name: str) -> bool:
    """Whether ``template`` has the placeholder ``name`` (worth computing its value)."""
    return any(m.group(1) == name for m in _TOKEN.finditer(template))


def footprint_text(footprint: Footprint) -> str:
    """The predicted files as a markdown list, or what an empty prediction means."""
    if footprint.exclusive:
        return "No files were predicted for this task, so it runs alone: change what it needs."
    if not footprint.claims:
        return "No files were predicted for this task."
    return "\n".join(f"- `{pattern}`" for pattern in footprint.patterns)


def dependencies_text(changes: Sequence[tuple[str, str | None, Sequence[str]]]) -> str:
    """One item per dependency: ``(id, merge commit or None, files it changed)``."""
    if not changes:
        return "This task depends on no other task."
    lines = []
    for task_id, commit, files in changes:
        if commit is None:
            lines.append(f"- `{task_id}`: not merged into the target.")
            continue
        head = f"- `{task_id}` (merged as {commit[:12]})"
        if not files:
            lines.append(f"{head}: changed no files.")
            continue
        shown = ", ".join(f"`{f}`" for f in files[:MAX_LISTED])
        more = f" and {len(files) - MAX_LISTED} more" if len(files) > MAX_LISTED else ""
        lines.append(f"{head} changed {shown}{more}.")
    return "\n".join(lines)
