"""The index settings every task-worktree command carries (``INDEX_OPTIONS``), on real git:
they make a large tree cheaper to scan, and must never make a scan miss a change."""

from __future__ import annotations

import os
from pathlib import Path

from gitutil import git, head, write

from coordinator.core.config import Identity
from coordinator.io.gitrepo import GitRepo, _subcommand
from coordinator.io.workcheck import collect_work

WHO = Identity(name="t", email="t@localhost")


def _index_bytes(worktree: Path) -> bytes:
    index = Path(git(worktree, "rev-parse", "--git-path", "index").strip())
    return (index if index.is_absolute() else worktree / index).read_bytes()


def _index_version(worktree: Path) -> int:
    return int.from_bytes(_index_bytes(worktree)[4:8], "big")


def test_a_new_worktree_gets_a_version_4_index(repo: Path, grepo: GitRepo) -> None:
    linked = repo.parent / "wt"
    grepo.worktree_add(linked, "coordinator/task/a", head(repo))
    assert _index_version(linked) == 4
    assert git(linked, "status", "--porcelain") == ""


def test_worktree_commands_stay_serialized_behind_their_options() -> None:
    assert _subcommand(("-c", "a=b", "-c", "c=d", "worktree", "add")) == "worktree"
    assert _subcommand(("worktree", "list")) == "worktree"
    assert _subcommand(("-c", "a=b")) is None


def test_the_untracked_cache_never_hides_a_new_file(repo: Path, grepo: GitRepo) -> None:
    """An agent that sets its directory's mtime back after adding a file: the cache also
    compares ctime, which no process can set back, so the file is still collected."""
    base = head(repo)
    linked = repo.parent / "wt"
    grepo.worktree_add(linked, "coordinator/task/a", base)
    write(linked, "src/one.txt", "1\n")
    first = collect_work(grepo, worktree=linked, branch="coordinator/task/a", base=base,
                         identity=WHO, message="one")  # fmt: skip
    assert b"UNTR" in _index_bytes(linked)  # the cache is in use: the case below is real
    directory = linked / "src"
    before = directory.stat()
    write(linked, "src/hidden.txt", "2\n")
    os.utime(directory, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert directory.stat().st_mtime_ns == before.st_mtime_ns
    second = collect_work(grepo, worktree=linked, branch="coordinator/task/a", base=first.head,
                          identity=WHO, message="two")  # fmt: skip
    assert grepo.changed_files(first.head, second.head) == ["src/hidden.txt"]
    assert grepo.status(linked) == b""
