"""What git prints, as data: the records and parsers of git's output. No git runs here.

Kept apart from ``gitrepo`` (the one module that builds and runs git command lines) so that the
reader of history (``gitobjects``) and the tests can share the records without importing the
door, and so that each module stays small.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from coordinator.core.refs import short_name
from coordinator.errors import GitError

# What ``first_parent_log`` asks ``git log`` for, NUL-separated: parsed by ``parse_log``.
LOG_FIELDS = ("%H", "%P", "%ct", "%s", "%b", "%(trailers:only,unfold)")


@dataclass(frozen=True, slots=True)
class MergeResult:
    """A merge computed in the object store: the tree when clean, else the conflicted paths."""

    tree: str | None
    conflicts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """One commit as ``review`` and ``merged_tasks`` read it; ``body`` includes the trailers."""

    sha: str
    parents: tuple[str, ...]
    subject: str
    body: str
    trailers: dict[str, str]
    committed_at: float


@dataclass(frozen=True, slots=True)
class WorktreeInfo:
    """One entry of ``git worktree list``; ``branch`` is the short name, None when detached."""

    path: Path
    head: str | None
    branch: str | None
    bare: bool = False
    detached: bool = False
    locked: bool = False
    prunable: bool = False


def split_z(out: bytes) -> list[str]:
    """The names in ``-z`` output, decoded the way Python decodes file names."""
    return [os.fsdecode(part) for part in out.split(b"\0") if part]


def parse_trailers(text: str) -> dict[str, str]:
    """``Key: value`` lines (already unfolded by git) as a dict; a repeated key keeps its last."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and " " not in key.strip():
            out[key.strip()] = value.strip()
    return out


def parse_worktrees(out: bytes) -> list[WorktreeInfo]:
    """``worktree list --porcelain -z``: NUL-ended ``key value`` fields, an empty one per record."""
    infos: list[WorktreeInfo] = []
    record: dict[str, str] = {}
    for raw in [*out.split(b"\0"), b""]:
        if raw:
            key, _, value = os.fsdecode(raw).partition(" ")
            record[key] = value
            continue
        if "worktree" in record:
            branch = record.get("branch")
            infos.append(WorktreeInfo(
                path=Path(record["worktree"]), head=record.get("HEAD"),
                branch=short_name(branch) if branch else None,
                bare="bare" in record, detached="detached" in record,
                locked="locked" in record, prunable="prunable" in record,
            ))  # fmt: skip
        record = {}
    return infos


def parse_log(out: str, ref: str) -> list[CommitInfo]:
    """``git log -z --format=<LOG_FIELDS joined by %x00>`` output as commits."""
    parts = out.split("\0")
    if parts[-1] == "":
        parts.pop()  # -z ends every commit with a NUL
    width = len(LOG_FIELDS)
    if len(parts) % width:
        raise GitError(f"unexpected `git log` output for {ref}: {len(parts)} fields")
    records = (parts[i : i + width] for i in range(0, len(parts), width))
    return [
        CommitInfo(sha, tuple(ps.split()), subject, body.strip(), parse_trailers(tr), float(ct))
        for sha, ps, ct, subject, body, tr in records
    ]


def parse_merge_tree(returncode: int, out: bytes) -> MergeResult:
    """``merge-tree --write-tree --name-only -z``: the tree, then (exit 1) conflicted paths."""
    fields = split_z(out)
    if returncode == 0:
        return MergeResult(fields[0])
    return MergeResult(None, tuple(dict.fromkeys(fields[1:])))


def raw_commit(
    tree: str, parents: Sequence[str], text: str, name: str, email: str, when: float
) -> str:
    """A commit object's text, author and committer ``name <email>`` at ``when`` (local zone)."""
    if any(ch in f"{name}{email}" for ch in "<>\n\0"):
        raise GitError(f"identity {name} <{email}> cannot go in a commit header")
    offset = time.localtime(when).tm_gmtoff // 60
    zone = f"{'-' if offset < 0 else '+'}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
    ident = f"{name} <{email}> {int(when)} {zone}"
    header = [f"tree {tree}", *(f"parent {p}" for p in parents)]
    return "\n".join([*header, f"author {ident}", f"committer {ident}", "", text])
