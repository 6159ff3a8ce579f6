"""The rules for task ids and repository paths that the rest of the tool relies on.

Ids become branch names (``coordinator/task/<id>``), worktree directories and log file names;
paths are joined to the repository root and handed to git. Both are checked strictly, once,
here: everything downstream trusts them.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

MAX_ID_LENGTH: Final = 64
ID_RULE: Final = "ids use a-z, 0-9, '.', '_' and '-', start with a letter or digit, at most 64 long"
_ID_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
# Shapes that pass every rule below, matched in one step (plans of 10,000 tasks check 30,000
# ids and 20,000 paths). No '.' in ids rules out '..' and '.lock'; no segment of a plain path
# starts with '.', which rules out '..' and '.git'.
_PLAIN_ID: Final = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{MAX_ID_LENGTH - 1}}}")
_SEGMENT: Final = r"[A-Za-z0-9_*?-][A-Za-z0-9_.*?-]*"
_PLAIN_PATH: Final = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_DRIVE: Final = re.compile(r"[A-Za-z]:")


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


def glob_problem(pattern: str) -> str | None:
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


def normalise_path(path: str) -> str:
    """``./x`` -> ``x``; ``dir/`` -> ``dir/**`` (a trailing slash means "everything under")."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if (path.endswith("/") or not parts) and parts[-1:] != ["**"]:
        parts.append("**")
    return "/".join(parts)
