"""The in-process object reader agrees with git itself, on real repositories."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
from gitutil import commit_file, git, head, write

from coordinator.io.gitrepo import GitRepo


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return head(root)


def test_changed_paths_match_diff_tree_on_every_kind_of_change(repo: Path, grepo: GitRepo) -> None:
    write(repo, "a/deep/x.txt", "x")
    write(repo, "a/deep/y.txt", "y")
    write(repo, "becomes_dir", "file")
    write(repo, "dir_goes/inner.txt", "i")
    write(repo, "run.sh", "echo")
    write(repo, "same/s.txt", "s")
    base = commit_all(repo, "base")
    write(repo, "a/deep/x.txt", "x2")
    git(repo, "mv", "a/deep/y.txt", "a/z.txt")
    (repo / "becomes_dir").unlink()
    write(repo, "becomes_dir/now.txt", "d")
    git(repo, "rm", "-q", "-r", "dir_goes")
    write(repo, "dir_goes", "now a file")
    (repo / "run.sh").chmod(0o755)
    os.symlink("a/z.txt", repo / "link")
    write(repo, "new/a\nline.txt", b"odd name")
    write(repo, os.fsdecode(b"bad-\xff.txt"), "latin")
    change = commit_all(repo, "change")
    with grepo.reader() as reader:
        got = reader.changed_paths(base, change)
        assert got == grepo.changed_files(base, change)
        assert "becomes_dir" in got and "becomes_dir/now.txt" in got
        assert "run.sh" in got and "same/s.txt" not in got
        assert reader.changed_paths(change, base) == grepo.changed_files(change, base)
        assert reader.changed_paths(change, change) == []


def test_resolve_and_commit(repo: Path, grepo: GitRepo) -> None:
    sha = commit_file(repo, "f.txt", "f", "subject line\n\nbody")
    with grepo.reader() as reader:
        assert reader.resolve("HEAD") == sha
        assert reader.resolve("refs/heads/main") == sha
        assert reader.resolve("no-such-branch") is None
        assert reader.resolve("bad\nname") is None
        commit = reader.commit("main")
        assert commit is not None and commit.hexsha == sha
        assert str(commit.message).startswith("subject line")
        assert reader.commit("no-such-branch") is None


def test_the_reader_sees_commits_made_after_it_started(repo: Path, grepo: GitRepo) -> None:
    with grepo.reader() as reader:
        first = reader.resolve("HEAD")
        second = commit_file(repo, "later.txt", "later")
        assert reader.resolve("HEAD") == second != first
        assert reader.changed_paths(str(first), second) == ["later.txt"]


def test_closing_ends_the_helper_process(repo: Path, grepo: GitRepo) -> None:
    reader = grepo.reader()
    assert reader.resolve("HEAD") == head(repo)
    assert [p for p in psutil.Process().children() if p.name() == "git"]
    reader.close()
    reader.close()
    assert [p for p in psutil.Process().children() if p.name() == "git"] == []


def test_a_branch_name_is_read_again_after_it_moves(repo: Path, grepo: GitRepo) -> None:
    base = head(repo)
    with grepo.reader() as reader:
        assert reader.changed_paths(base, "main") == []
        commit_file(repo, "moved.txt", "m")
        assert reader.changed_paths(base, "main") == ["moved.txt"]
