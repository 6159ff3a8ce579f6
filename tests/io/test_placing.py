"""``[worktree] copy`` and ``link`` on a real repository: what is placed, what is refused, and
what is taken back."""

from __future__ import annotations

import os
from pathlib import Path

from gitutil import git

from coordinator.io.gitrepo import GitRepo
from coordinator.io.placing import place, unplace
from coordinator.io.worktrees import Worktrees


def _worktree(repo: Path) -> tuple[GitRepo, Path]:
    opened = GitRepo.discover(repo)
    head = git(repo, "rev-parse", "HEAD").strip()
    return opened, Worktrees(opened, "worktrees").create("t", "coordinator/task/t", head)


def test_copies_untracked_and_ignored_files_by_glob_but_not_from_the_worktrees(
    repo: Path,
) -> None:
    (repo / ".gitignore").write_text(".env.local\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore")
    (repo / ".env").write_text("A=1\n")  # untracked
    (repo / ".env.local").write_text("B=2\n")  # ignored
    (repo / "config").mkdir()
    (repo / "config" / ".env").write_text("deep\n")  # not matched by a top-level glob
    opened, worktree = _worktree(repo)
    with opened:
        (worktree / ".env.leftover").write_text("the worktree's own\n")
        done = place(opened, worktree, copy=[".env*", "**/deep-*"], link=[], skip_dir="worktrees")
    assert sorted(done.paths) == [".env", ".env.local"]
    assert (worktree / ".env").read_text() == "A=1\n"
    assert (worktree / ".env.local").read_text() == "B=2\n"
    assert not (worktree / "config" / ".env").exists()
    assert done.notes == ()


def test_refuses_symlinks_out_of_the_repository_and_paths_the_worktree_has(
    repo: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s\n")
    (repo / ".env").symlink_to(secret)
    (repo / "inside.txt").write_text("tracked elsewhere\n")
    (repo / ".env.inside").symlink_to(repo / "inside.txt")  # inside: its file is copied
    (repo / "README.md").write_text("changed, untracked? no: tracked\n")
    (repo / "shared").mkdir()
    (repo / "outlink").symlink_to(tmp_path)
    opened, worktree = _worktree(repo)
    with opened:
        done = place(
            opened, worktree, copy=[".env*", "inside.txt"],
            link=["shared", "outlink", "missing", "README.md"], skip_dir="worktrees",
        )  # fmt: skip
    assert sorted(done.paths) == [".env.inside", "inside.txt", "shared"]
    assert not os.path.lexists(worktree / ".env")
    assert (worktree / ".env.inside").read_text() == "tracked elsewhere\n"
    assert not (worktree / ".env.inside").is_symlink()
    assert os.readlink(worktree / "shared") == str(repo / "shared")
    notes = "\n".join(done.notes)
    assert ".env not copied: it leads out of the repository" in notes
    assert "outlink not linked: it leads out of the repository" in notes
    assert "missing not linked: it does not exist in your checkout" in notes
    assert "README.md not linked: the worktree has that path already" in notes


def test_never_writes_through_a_symlinked_directory_in_the_worktree(
    repo: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / "cfg").mkdir()
    (repo / "cfg" / "x").write_text("x\n")  # untracked in a real directory of the checkout
    (repo / "cfg" / "shared").mkdir()
    opened, worktree = _worktree(repo)
    (worktree / "cfg").symlink_to(elsewhere)  # in the worktree the directory is a symlink
    with opened:
        done = place(opened, worktree, copy=["cfg/*"], link=["cfg/shared"], skip_dir="worktrees")
    assert done.paths == ()
    assert [n.split(": ", 1)[1] for n in done.notes] == [
        "cfg/x not copied: a symlink is on its way in the worktree",
        "cfg/shared not linked: a symlink is on its way in the worktree",
    ]
    assert list(elsewhere.iterdir()) == []


def test_unplace_takes_back_only_what_is_as_it_was_placed(repo: Path) -> None:
    (repo / ".env").write_text("A=1\n")
    (repo / ".env.b").write_text("B=1\n")
    (repo / "shared").mkdir()
    opened, worktree = _worktree(repo)
    with opened:
        done = place(opened, worktree, copy=[".env*"], link=["shared"], skip_dir="worktrees")
    (worktree / ".env.b").write_text("changed by the agent\n")
    stays = unplace(worktree, repo, done.paths)
    assert stays == [".env.b"]
    assert not os.path.lexists(worktree / ".env") and not os.path.lexists(worktree / "shared")
    assert (repo / ".env").exists() and (repo / "shared").is_dir()
