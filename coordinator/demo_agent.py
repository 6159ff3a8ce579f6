"""The built-in demo agent: ``python -m coordinator.demo_agent [SPEC]``, no LLM needed.

It exists so that ``./scripts/demo`` and the end-to-end tests can run the whole coordinator
against real processes that edit real worktrees. It reads the spec (``SPEC``, else
``$COORDINATOR_SPEC``, else the body in ``$COORDINATOR_PROMPT_FILE``) and applies the edits
written in fenced blocks of its body, relative to the current directory (the task's worktree)::

    ```write path          full new content of the file
    ```append path         lines added at the end (the file is created if missing)
    ```replace path        <<<<<<< SEARCH / old / ======= / new / >>>>>>> REPLACE, repeatable
    ```delete path         (empty) remove the file

Then it takes the time the spec says it takes (``--sleep``, ``$COORDINATOR_DEMO_SLEEP``, the
front matter's ``estimate``, else 0) divided by ``$COORDINATOR_DEMO_SPEED`` (default 1), and
writes its completion marker (``--marker`` or ``$COORDINATOR_MARKER``).

As a conflict resolver (``--resolve-union``, or ``$COORDINATOR_RESOLVE=1`` which the
coordinator sets for ``[merge] resolver``) it ignores the spec and resolves each path of
``$COORDINATOR_CONFLICTS`` union-style: both sides' lines are kept (ours first), the base
section of a diff3 conflict and the markers are dropped.

Every edit is checked and computed in memory before the first byte is written, so a spec with
one bad block changes nothing: the agent writes a ``failed`` marker and exits 1. Paths are
confined to the worktree: absolute paths, ``..``, anything under ``.git`` and symlinks leading
out are refused.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from coordinator.core.durations import parse_duration

VERBS = ("write", "append", "replace", "delete")
_OPEN = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<info>.*?)\s*$")
_DONE = {"write": "written", "append": "appended", "replace": "replaced", "delete": "deleted"}
_SEARCH, _DIVIDER, _REPLACE = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"


class AgentError(Exception):
    """Why the agent refuses to go on; its text becomes the failed marker's summary."""


@dataclass(frozen=True)
class Edit:
    """One fenced edit block: the verb, the path as written, and the block's lines."""

    verb: str
    path: str
    lines: tuple[str, ...]


def split_front_matter(text: str) -> tuple[dict[str, object], str]:
    """``---`` YAML ``---`` then the body; a file without front matter is all body."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return {}, text
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() in ("---", "..."):
            try:
                front = yaml.safe_load("".join(lines[1:index]))
            except yaml.YAMLError as exc:
                raise AgentError(f"the spec's front matter is not valid YAML: {exc}") from exc
            if front is not None and not isinstance(front, dict):
                raise AgentError("the spec's front matter is not a mapping")
            return dict(front or {}), "".join(lines[index + 1 :])
    return {}, text


def parse_edits(body: str) -> list[Edit]:
    """The edit blocks of ``body`` in order; other fenced blocks (```python ...) are skipped.

    A block closes on a line of the same fence character at least as long as its opening,
    so a ````write block (four backticks) may contain ``` fences of its own.
    """
    edits: list[Edit] = []
    lines = body.splitlines()
    index = 0
    while index < len(lines):
        opening = _OPEN.match(lines[index])
        index += 1
        if opening is None:
            continue
        fence = opening["fence"]
        verb, _, path = opening["info"].replace("\t", " ").partition(" ")
        content: list[str] = []
        while index < len(lines) and not _closes(lines[index], fence):
            content.append(lines[index])
            index += 1
        closed = index < len(lines)
        index += 1
        if verb not in VERBS:
            continue
        if not closed:
            raise AgentError(f"the {fence}{verb} block for {path.strip()!r} is never closed")
        if not path.strip():
            raise AgentError(f"a {fence}{verb} block names no path")
        edits.append(Edit(verb, path.strip(), tuple(content)))
    return edits


def _closes(line: str, fence: str) -> bool:
    text = line.rstrip()
    return len(text) >= len(fence) and set(text) == {fence[0]}


def confine(root: Path, rel: str) -> Path:
    """The absolute path of ``rel`` inside ``root``, or ``AgentError`` if it would leave it."""
    pure = PurePosixPath(rel)
    if pure.is_absolute() or rel.startswith("~") or "\\" in rel:
        raise AgentError(f"refusing {rel!r}: paths must be relative to the worktree")
    if ".." in pure.parts:
        raise AgentError(f"refusing {rel!r}: '..' would leave the worktree")
    parts = [part for part in pure.parts if part != "."]
    if not parts:
        raise AgentError(f"refusing {rel!r}: it names the worktree itself")
    base = root.resolve()
    target = base.joinpath(*parts).resolve()  # follows symlinks: a link out is caught below
    if not target.is_relative_to(base) or target == base:
        raise AgentError(f"refusing {rel!r}: it resolves outside the worktree")
    if any(part.lower() == ".git" for part in (*parts, *target.relative_to(base).parts)):
        raise AgentError(f"refusing {rel!r}: the agent never touches .git")
    return target


class Worktree:
    """Edits staged in memory over the files on disk, written only by ``commit``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.staged: dict[Path, str | None] = {}  # None: delete

    def read(self, path: Path) -> str | None:
        if path in self.staged:
            return self.staged[path]
        if path.is_dir():
            raise AgentError(f"{path.relative_to(self.root.resolve())} is a directory")
        try:
            return path.read_text(encoding="utf-8") if path.exists() else None
        except (OSError, UnicodeDecodeError) as exc:
            raise AgentError(f"cannot read {path}: {exc}") from exc

    def apply(self, edit: Edit) -> None:
        path = confine(self.root, edit.path)
        base = self.root.resolve()
        blocked = [p for p in path.parents if p.is_relative_to(base) and p.is_file()]
        if blocked and edit.verb in ("write", "append"):
            raise AgentError(f"cannot create {edit.path}: {blocked[0].relative_to(base)} is a file")
        text = "".join(line + "\n" for line in edit.lines)
        current = self.read(path)
        if edit.verb == "write":
            self.staged[path] = text
        elif edit.verb == "append":
            if current and not current.endswith("\n"):
                current += "\n"
            self.staged[path] = (current or "") + text
        elif edit.verb == "delete":
            if current is None:
                raise AgentError(f"cannot delete {edit.path}: no such file")
            self.staged[path] = None
        else:
            if current is None:
                raise AgentError(f"cannot replace in {edit.path}: no such file")
            self.staged[path] = replace_all(current, edit)

    def commit(self) -> None:
        for path, text in self.staged.items():
            if text is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")


def replace_all(text: str, edit: Edit) -> str:
    """Apply each SEARCH/REPLACE pair of a ``replace`` block to ``text``, in order.

    Whole lines are matched first (so deleting lines leaves no blank line behind); a search
    that is not whole lines is matched as plain text. Only the first occurrence changes.
    """
    pairs = _pairs(edit)
    for search, replacement in pairs:
        old, new = "\n".join(search), "\n".join(replacement)
        if f"{old}\n" in text:
            old, new = f"{old}\n", f"{new}\n" if replacement else ""
        if old not in text:
            raise AgentError(f"replace in {edit.path}: text not found: {old.splitlines()[0]!r}")
        text = text.replace(old, new, 1)
    return text


def _pairs(edit: Edit) -> list[tuple[list[str], list[str]]]:
    pairs: list[tuple[list[str], list[str]]] = []
    search: list[str] = []
    replacement: list[str] = []
    state = "outside"
    for line in edit.lines:
        marker = line.rstrip()
        if state == "outside" and marker == _SEARCH:
            state, search, replacement = "search", [], []
        elif state == "search" and marker == _DIVIDER:
            state = "replace"
        elif state == "replace" and marker == _REPLACE:
            if not any(part.strip() for part in search):
                raise AgentError(f"replace in {edit.path}: empty SEARCH section")
            pairs.append((search, replacement))
            state = "outside"
        elif state == "search":
            search.append(line)
        elif state == "replace":
            replacement.append(line)
        elif marker:
            raise AgentError(f"replace in {edit.path}: text outside a SEARCH/REPLACE section")
    if state != "outside" or not pairs:
        raise AgentError(
            f"replace in {edit.path}: expected {_SEARCH} / {_DIVIDER} / {_REPLACE} sections"
        )
    return pairs


def describe(edits: Sequence[Edit]) -> str:
    """``2 files written, 1 appended (a.py, b.py, README.md)``: counts blocks, names files."""
    if not edits:
        return "no edits in the spec"
    counts = Counter(edit.verb for edit in edits)
    parts: list[str] = []
    for verb in VERBS:
        if counts[verb]:
            noun = "" if parts else " file" if counts[verb] == 1 else " files"
            parts.append(f"{counts[verb]}{noun} {_DONE[verb]}")
    paths = dict.fromkeys(edit.path for edit in edits)
    return f"{', '.join(parts)} ({', '.join(paths)})"


def sleep_seconds(option: str | None, front: dict[str, object]) -> float:
    """How long the task "takes": the first of --sleep, the env, the estimate; over the speed."""
    env = os.environ.get("COORDINATOR_DEMO_SLEEP")
    raw = option if option is not None else env if env else front.get("estimate", 0)
    try:
        seconds = parse_duration(raw)
    except ValueError as exc:
        raise AgentError(f"bad sleep: {exc}") from exc
    text = os.environ.get("COORDINATOR_DEMO_SPEED", "1") or "1"
    try:
        speed = float(text)
    except ValueError:
        speed = 0.0
    if not speed > 0 or speed == float("inf"):
        raise AgentError(f"COORDINATOR_DEMO_SPEED={text!r} must be a positive number")
    return seconds / speed


def write_marker(path: Path, status: str, summary: str) -> None:
    """Write whole or not at all: a temp file beside it (a dot name the watcher ignores),
    then ``os.replace``, which is atomic within one directory."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"status": status, "summary": summary}, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_spec(spec: str | None) -> tuple[dict[str, object], str]:
    """Front matter and body of the spec; the prompt file is all body."""
    spec = spec or os.environ.get("COORDINATOR_SPEC")
    prompt = os.environ.get("COORDINATOR_PROMPT_FILE")
    source = spec or prompt
    if not source:
        raise AgentError("no spec: pass its path or set COORDINATOR_SPEC/COORDINATOR_PROMPT_FILE")
    try:
        text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AgentError(f"cannot read the spec {source}: {exc}") from exc
    return split_front_matter(text) if spec else ({}, text)


def run(spec: str | None, sleep: str | None) -> str:
    """Do the work and return the summary; raise ``AgentError`` before writing anything bad."""
    front, body = load_spec(spec)
    edits = parse_edits(body)
    worktree = Worktree(Path.cwd())
    for edit in edits:
        worktree.apply(edit)
    seconds = sleep_seconds(sleep, front)  # checked before any write, like the edits
    for edit in edits:
        print(f"demo agent: {edit.verb} {edit.path}", flush=True)
    worktree.commit()
    if seconds > 0:
        print(f"demo agent: working for {seconds:.2f}s", flush=True)
        time.sleep(seconds)
    return describe(edits)


def union_resolve(text: str) -> str:
    """``text`` with every conflict replaced by both sides' lines, ours first."""
    out: list[str] = []
    section = ""  # "", "ours", "base" or "theirs"
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        if bare.startswith("<<<<<<<") and section == "":
            section = "ours"
        elif bare.startswith("|||||||") and section == "ours":
            section = "base"
        elif bare == "=======" and section in ("ours", "base"):
            section = "theirs"
        elif bare.startswith(">>>>>>>") and section == "theirs":
            section = ""
        elif section != "base":
            out.append(line)
    return "".join(out)


def resolve_union() -> str:
    """Resolve every path of ``$COORDINATOR_CONFLICTS`` in the current directory."""
    root = Path.cwd()
    paths = [p for p in os.environ.get("COORDINATOR_CONFLICTS", "").splitlines() if p]
    if not paths:
        raise AgentError("no conflicts to resolve: COORDINATOR_CONFLICTS is empty")
    for rel in paths:
        path = confine(root, rel)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AgentError(f"cannot read the conflicted file {rel}: {exc}") from exc
        path.write_text(union_resolve(text), encoding="utf-8")
        print(f"demo agent: resolved {rel} (union)", flush=True)
    return f"resolved {len(paths)} conflicted file(s) union-style: {', '.join(paths)}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m coordinator.demo_agent",
        description="Apply the edit blocks of a coordinator spec, wait, and report done.",
    )
    parser.add_argument("spec", nargs="?", help="the spec file (default: $COORDINATOR_SPEC)")
    parser.add_argument("--sleep", help="time to take, e.g. 2s or 1.5m (default: the estimate)")
    parser.add_argument("--marker", help="completion marker path (default: $COORDINATOR_MARKER)")
    parser.add_argument(
        "--resolve-union", action="store_true",
        help="resolve $COORDINATOR_CONFLICTS keeping both sides (also: COORDINATOR_RESOLVE=1)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    marker = args.marker or os.environ.get("COORDINATOR_MARKER")
    resolving = args.resolve_union or os.environ.get("COORDINATOR_RESOLVE") == "1"
    try:
        summary = resolve_union() if resolving else run(args.spec, args.sleep)
        status, code = "done", 0
    except (AgentError, OSError) as exc:
        status, summary, code = "failed", str(exc), 1
        print(f"demo agent: failed: {summary}", file=sys.stderr, flush=True)
    print(f"demo agent: {status}: {summary}", flush=True)
    if marker:
        try:
            write_marker(Path(marker), status, summary)
        except OSError as exc:
            print(f"demo agent: cannot write the marker {marker}: {exc}", file=sys.stderr)
            return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
