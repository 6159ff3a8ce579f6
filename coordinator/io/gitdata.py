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
    conflicted_tree: str | None = None  # on conflict: the tree with conflict markers in it


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
    return MergeResult(None, tuple(dict.fromkeys(fields[1:])), fields[0] if fields else None)


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


def parse_config_list(out: bytes) -> list[tuple[str, str, str]]:
    """``git config --list -z --show-origin`` as (origin, key, value); a key given without a
    value (``[core] flag``) has the value ``""``."""
    fields = out.split(b"\0")
    entries = []
    for origin, entry in zip(fields[0::2], fields[1::2], strict=False):
        key, _, value = entry.partition(b"\n")
        entries.append((os.fsdecode(origin), os.fsdecode(key), os.fsdecode(value)))
    return entries
@dataclass(frozen=True, slots=True)
class Change:
    """One first-parent commit as history mining reads it: its message and changed files."""

    sha: str
    message: str
    files: tuple[str, ...]
    renames: tuple[tuple[str, str], ...] = ()  # (old path, new path)


def _name_status(fields: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Files and renames of one commit's ``--name-status -z`` fields. A deleted and an added
    file with the same directory and stem (``CHANGES.rst`` -> ``CHANGES.md``, rewritten too
    much for git to pair them) count as a rename as well."""
    files: list[str] = []
    renames: list[tuple[str, str]] = []
    added: dict[str, str] = {}
    deleted: dict[str, str] = {}
    i = 0
    while i + 1 < len(fields):
        status = fields[i].strip()[:1]
        if status in ("R", "C") and i + 2 < len(fields):
            old, new = fields[i + 1], fields[i + 2]
            files += [old, new] if status == "R" else [new]
            if status == "R":
                renames.append((old, new))
            i += 3
            continue
        path = fields[i + 1]
        files.append(path)
        stem = path.rsplit(".", 1)[0]
        if status == "A":
            added[stem] = path
        elif status == "D":
            deleted[stem] = path
        i += 2
    renames += [(old, added[stem]) for stem, old in deleted.items() if stem in added]
    return files, renames


def parse_changes(out: bytes) -> list[Change]:
    """``git log --name-status -z --format=%x01%H%x02%B%x03`` output, one ``Change`` each."""
    changes: list[Change] = []
    for record in out.split(b"\x01")[1:]:
        head, _, names = record.partition(b"\x03")
        sha, _, message = head.partition(b"\x02")
        files, renames = _name_status(split_z(names.strip(b"\n\0")))
        message_text = message.decode("utf-8", "replace")
        changes.append(Change(sha.decode(), message_text, tuple(dict.fromkeys(files)),
                              tuple(renames)))  # fmt: skip
    return changes


def parse_tree_blobs(out: bytes) -> dict[str, str]:
    """``git ls-tree -r -z``: every blob's path -> its id (submodules and links left out)."""
    blobs: dict[str, str] = {}
    for entry in out.split(b"\0"):
        meta, _, name = entry.partition(b"\t")
        fields = meta.split()
        if len(fields) == 3 and fields[1] == b"blob" and fields[0] != b"120000":
            blobs[os.fsdecode(name)] = fields[2].decode()
    return blobs


def small_objects(check: bytes, limit: int) -> list[str]:
    """The ids ``cat-file --batch-check=%(objectname) %(objectsize)`` lists at most ``limit``
    bytes large."""
    sizes = check.decode().split()
    return [sizes[i] for i in range(0, len(sizes) - 1, 2) if int(sizes[i + 1]) <= limit]


def parse_batch(out: bytes) -> dict[str, bytes]:
    """``git cat-file --batch`` output: each object's id -> its contents."""
    blobs: dict[str, bytes] = {}
    pos = 0
    while pos < len(out):
        header_end = out.index(b"\n", pos)
        sha, _, size = out[pos:header_end].decode().split(" ")
        start = header_end + 1
        blobs[sha] = out[start : start + int(size)]
        pos = start + int(size) + 1
    return blobs
