"""Reading git objects in this process: GitPython's parsers over one ``git cat-file``.

Where it pays (measured by ``scripts/bench history``, see the README's design notes): a command
that looks up many small things, such as ``review`` listing the files of every landed task,
would otherwise start one git process per lookup (a few milliseconds each); here each lookup is
a line written to a ``cat-file --batch-command`` that stays up, and GitPython parses what comes
back (tree entries, commits). A whole history is still read with one ``git log``, which is
faster than walking commits object by object.

Why it is built this way:

* The one helper process is started by ``gitrepo.start_git``, the door every git process goes
  through, so it runs with the same clean environment and options as every other git command.
  GitPython's own command runner is never used (it would inherit a hook's ``GIT_DIR``).
* GitPython objects are not thread-safe and the helper is one pipe: a reader belongs to one
  thread and is closed (its process ended) when the command is done.
"""

from __future__ import annotations

import contextlib
import os
import re
from io import BytesIO
from pathlib import Path
from types import TracebackType
from typing import IO

import git
from git.objects.fun import tree_entries_from_data
from gitdb.base import OInfo, OStream
from gitdb.db import LooseObjectDB

from coordinator.errors import GitError
from coordinator.io import processes

_TREE_MODE = 0o040000
_TYPE_MASK = 0o170000
_TREE_CACHE = 4096  # trees remembered by one reader (a few hundred bytes to a few KB each)
_Entries = dict[bytes, tuple[bytes, int]]
_BY_OBJECT_ID = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})(?:\^\{tree\})?")


class _CatFile:
    """``git cat-file --batch-command`` (git >= 2.36): ``info`` and ``contents`` requests."""

    def __init__(self, started: processes.Started) -> None:
        if started.popen is None:
            raise GitError(started.error)
        self.proc = started.popen
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in: IO[bytes] = self.proc.stdin
        self._out: IO[bytes] = self.proc.stdout

    def request(self, command: str, name: str) -> tuple[str, str, bytes | None] | None:
        """(sha, type, contents or None for ``info``) of object ``name``, None when missing."""
        if "\n" in name or not name:
            return None
        self._in.write(f"{command} {name}\n".encode())
        self._in.flush()
        header = self._out.readline().decode().split()
        if len(header) != 3:  # "<name> missing" or "ambiguous", or the helper died
            if not header:
                raise GitError(f"git cat-file stopped answering (asked for {name})")
            return None
        sha, kind, size = header
        data = self._out.read(int(size) + 1)[:-1] if command == "contents" else None
        return sha, kind, data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._in.close()
        try:
            self.proc.wait(timeout=2)
        except processes.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            self._out.close()


class _DoorObjectDB(LooseObjectDB):  # type: ignore[misc]
    """The object database GitPython reads through: our ``cat-file``, not its own."""

    def __init__(self, root_path: str, cat: _CatFile) -> None:
        super().__init__(root_path)
        self._cat = cat

    def info(self, binsha: bytes) -> OInfo:
        found = self._cat.request("info", binsha.hex())
        if found is None:
            raise GitError(f"object {binsha.hex()} is missing")
        return OInfo(bytes.fromhex(found[0]), found[1], 0)

    def stream(self, binsha: bytes) -> OStream:
        found = self._cat.request("contents", binsha.hex())
        if found is None or found[2] is None:
            raise GitError(f"object {binsha.hex()} is missing")
        return OStream(bytes.fromhex(found[0]), found[1], len(found[2]), BytesIO(found[2]))


class ObjectReader:
    """Commits and trees of one repository, read in this process; one thread, then close."""

    def __init__(self, root: Path, cat_file: processes.Started) -> None:
        """``cat_file`` is a started ``git cat-file --batch-command`` (``GitRepo.reader``)."""
        self._cat = _CatFile(cat_file)
        self._trees: dict[str, _Entries] = {}
        try:
            self._repo = git.Repo(root)
            self._repo.odb = _DoorObjectDB(os.path.join(self._repo.common_dir, "objects"),
                                           self._cat)  # fmt: skip
        except BaseException:
            self._cat.close()
            raise

    def resolve(self, rev: str) -> str | None:
        """The object id ``rev`` names (``git rev-parse`` syntax), or None."""
        found = self._cat.request("info", rev)
        return found[0] if found else None

    def commit(self, rev: str) -> git.Commit | None:
        """GitPython's commit object for ``rev`` (lazy: its data is read when first used)."""
        sha = self.resolve(f"{rev}^{{commit}}")
        return None if sha is None else git.Commit(self._repo, bytes.fromhex(sha))

    def changed_paths(self, a: str, b: str) -> list[str]:
        """Paths that differ between commits ``a`` and ``b``, as ``git diff-tree -r
        --no-renames --name-only`` lists them: files (and submodules) added, removed or changed,
        a file replaced by a directory as both; only trees that differ are read."""
        out: list[bytes] = []
        self._compare(self._tree(f"{a}^{{tree}}"), self._tree(f"{b}^{{tree}}"), b"", out)
        return [os.fsdecode(path) for path in sorted(out)]

    def _tree(self, name: str) -> _Entries:
        """The entries of tree ``name`` (a sha or a revision), read once and then remembered:
        a review reads each commit's tree as the next one's parent tree too."""
        entries = self._trees.get(name)
        if entries is not None:
            return entries
        found = self._cat.request("contents", name)
        if found is None or found[1] != "tree" or found[2] is None:
            raise GitError(f"no tree for {name}")
        entries = {os.fsencode(entry): (sha, mode)
                   for sha, mode, entry in tree_entries_from_data(found[2])}  # fmt: skip
        if len(self._trees) >= _TREE_CACHE:
            self._trees.clear()
        self._trees[found[0]] = entries
        if _BY_OBJECT_ID.fullmatch(name):  # a name that can never mean another tree
            self._trees[name] = entries
        return entries

    def _compare(self, before: _Entries, after: _Entries, prefix: bytes, out: list[bytes]) -> None:
        for name in before.keys() | after.keys():
            was, now = before.get(name), after.get(name)
            if was == now:
                continue
            was_tree = was is not None and was[1] & _TYPE_MASK == _TREE_MODE
            now_tree = now is not None and now[1] & _TYPE_MASK == _TREE_MODE
            if was_tree or now_tree:
                old_sub = self._tree(was[0].hex()) if was and was_tree else {}
                new_sub = self._tree(now[0].hex()) if now and now_tree else {}
                self._compare(old_sub, new_sub, prefix + name + b"/", out)
            if (was is not None and not was_tree) or (now is not None and not now_tree):
                out.append(prefix + name)

    def close(self) -> None:
        """End the helper process and drop GitPython's caches; safe to call twice."""
        self._repo.close()
        self._cat.close()

    def __enter__(self) -> ObjectReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()
