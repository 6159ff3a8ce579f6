"""Where a run keeps its files: under ``<git dir>/coordinator/``, never in a commit.

Markers, logs and the per-task prompt and spec copies live in the common git directory: agents
get absolute paths to them, git never tracks them, and ``git clean`` in a worktree cannot
remove them.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import yaml

from coordinator.core.models import TaskSpec


def new_run_id(now: float) -> str:
    """Sortable, unique enough, and a valid git ref component."""
    stamp = dt.datetime.fromtimestamp(now, tz=dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def state_dir(git_dir: Path) -> Path:
    return git_dir / "coordinator"


def store_path(git_dir: Path) -> Path:
    return state_dir(git_dir) / "state.db"


def lock_path(git_dir: Path) -> Path:
    return state_dir(git_dir) / "lock"


@dataclass(frozen=True)
class RunFiles:
    """The directories of one run."""

    root: Path

    @classmethod
    def create(cls, git_dir: Path, run_id: str) -> RunFiles:
        files = cls(state_dir(git_dir) / "runs" / run_id)
        for sub in (files.markers, files.logs, files.prompts):
            sub.mkdir(parents=True, exist_ok=True)
        return files

    @property
    def markers(self) -> Path:
        return self.root / "markers"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def prompts(self) -> Path:
        return self.root / "prompts"

    def log(self, task_id: str, attempt: int) -> Path:
        suffix = "" if attempt == 1 else f".{attempt}"
        return self.logs / f"{task_id}{suffix}.log"

    def union_attributes(self, globs: Sequence[str]) -> Path | None:
        """Write the run's own attributes file for ``[overlap] union`` (None: no globs).

        One ``<glob> merge=union`` line per glob, anchored at the repository root like every
        coordinator glob; merges read it through ``core.attributesFile`` on their command line
        only, so no file of the user's (``.gitattributes``, ``info/attributes``) changes.
        """
        if not globs:
            return None
        path = self.root / "union.attributes"
        lines = [f"{g if '/' in g.rstrip('/') else '/' + g} merge=union\n" for g in globs]
        path.write_text("".join(lines), encoding="utf-8")
        return path

    def prompt(self, task_id: str) -> Path:
        return self.prompts / f"{task_id}.md"

    def spec(self, task_id: str) -> Path:
        return self.prompts / f"{task_id}.spec.md"


def render_spec(spec: TaskSpec) -> str:
    """A self-contained markdown spec for one task, whatever format the user wrote it in.

    Agents get ``{spec}`` pointing here, so a task from a workflow YAML file looks the same
    to them as one from a markdown file.
    """
    front: dict[str, object] = {"id": spec.id, "agent": spec.agent}
    if spec.title:
        front["title"] = spec.title
    if spec.depends_on:
        front["depends_on"] = list(spec.depends_on)
    if spec.files:
        front["files"] = list(spec.files)
    if spec.estimate is not None:
        front["estimate"] = spec.estimate
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True)
    return f"---\n{header}---\n{spec.body}"


def line_break(out: BinaryIO, start: int) -> bytes:
    """``b"\\n"`` when a command's output appended to ``out`` from ``start`` on did not end its
    last line, so that the coordinator's next header line starts a line of its own (``out``
    is opened for reading too, ``"a+b"``)."""
    out.flush()
    try:
        end = os.fstat(out.fileno()).st_size
        last = os.pread(out.fileno(), 1, end - 1) if end > start else b"\n"
    except OSError:
        return b"\n"
    return b"" if last == b"\n" else b"\n"
