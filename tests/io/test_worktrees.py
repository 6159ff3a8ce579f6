"""The worktrees directory: path safety, the exclude entry, and leftovers that hold work."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gitutil import commit_file, git, head, write

from coordinator.errors import InputError
from coordinator.io.gitrepo import GitRepo
from coordinator.io.worktrees import Worktrees, ensure_excluded, safe_worktree_path


@pytest.fixture
def trees(grepo: GitRepo) -> Worktrees:
    return Worktrees(grepo, "worktrees")


def registered(grepo: GitRepo) -> list[Path]:
    return [w.path for w in grepo.worktree_list()[1:]]


# ------------------------------------------------------------------------------ path safety
def test_safe_path_is_one_level_under_the_resolved_worktrees_dir(repo: Path) -> None:
    real = repo.resolve()
    assert safe_worktree_path(repo, "worktrees", "add-login") == real / "worktrees" / "add-login"
    assert safe_worktree_path(repo, "./build/wt/", "t1") == real / "build" / "wt" / "t1"


@pytest.mark.parametrize(
    "bad_dir", ["../outside", "a/../../x", "/tmp/wt", "", ".", ".git/wt", "~/wt"]
)
def test_worktrees_dir_outside_the_repo_is_refused(repo: Path, bad_dir: str) -> None:
    with pytest.raises(InputError, match="worktrees"):
        safe_worktree_path(repo, bad_dir, "t1")


@pytest.mark.parametrize("bad_id", ["..", ".", "", "a/b", "../x", ".stale-x-1", "a\\b", "x\0y"])
def test_task_id_must_be_one_path_component(repo: Path, bad_id: str) -> None:
    with pytest.raises(InputError):
        safe_worktree_path(repo, "worktrees", bad_id)


def test_symlinked_worktrees_dir_leading_outside_is_refused(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (repo / "worktrees").symlink_to(outside)
    with pytest.raises(InputError, match="outside the repository"):
        safe_worktree_path(repo, "worktrees", "t1")
    (repo / "parent").symlink_to(outside)  # a symlink higher up counts too
    with pytest.raises(InputError, match="symlink"):
        safe_worktree_path(repo, "parent/wt", "t1")


def test_symlinked_worktrees_dir_inside_is_refused_too(repo: Path, grepo: GitRepo) -> None:
    (repo / "real").mkdir()
    (repo / "wt").symlink_to(repo / "real")
    with pytest.raises(InputError, match="inside the repository"):
        Worktrees(grepo, "wt")


# -------------------------------------------------------------------------------- excludes
def test_ensure_excluded_is_idempotent_and_creates_the_file(repo: Path, grepo: GitRepo) -> None:
    info = repo / ".git" / "info"
    for child in info.iterdir():
        child.unlink()
    info.rmdir()
    ensure_excluded(grepo, "worktrees")
    ensure_excluded(grepo, "worktrees/")
    ensure_excluded(grepo, "build/w*")
    ensure_excluded(grepo, "build/w*")
    lines = (info / "exclude").read_text().splitlines()
    assert lines.count("/worktrees/") == 1
    assert lines.count("/build/w\\*/") == 1


def test_ensure_excluded_appends_after_a_line_without_newline(repo: Path, grepo: GitRepo) -> None:
    exclude = repo / ".git" / "info" / "exclude"
    exclude.write_text("*.tmp")
    ensure_excluded(grepo, "worktrees")
    assert exclude.read_text().splitlines()[0] == "*.tmp"
    assert "/worktrees/" in exclude.read_text().splitlines()


def test_main_checkout_status_stays_empty_with_worktrees(
    repo: Path, grepo: GitRepo, trees: Worktrees
) -> None:
    base = head(repo)
    one = trees.create("one", "coordinator/task/one", base)
    trees.create("two", "coordinator/task/two", base)
    write(one, "agent-output.txt", "x")
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert git(repo, "status", "--porcelain", "--ignored") == "!! worktrees/\n"  # via info/exclude


# ---------------------------------------------------------------------------------- create
def test_create_checks_out_the_branch_at_the_commit(
    repo: Path, grepo: GitRepo, trees: Worktrees
) -> None:
    base = head(repo)
    later = commit_file(repo, "later.txt", "x")
    path = trees.create("t1", "coordinator/task/t1", base)
    assert path == repo.resolve() / "worktrees" / "t1"
    assert registered(grepo) == [path]
    assert grepo.rev_parse("refs/heads/coordinator/task/t1") == base != later
    assert not (path / "later.txt").exists()


def test_create_replaces_a_clean_leftover_worktree(
    repo: Path, grepo: GitRepo, trees: Worktrees
) -> None:
    base = head(repo)
    trees.create("t1", "coordinator/task/t1", base)
    grepo.rename_branch("coordinator/task/t1", "coordinator/old/t1")
    path = trees.create("t1", "coordinator/task/t1", base)
    assert registered(grepo) == [path]
    assert not list((repo / "worktrees").glob(".stale-*"))


def test_create_sets_aside_a_leftover_worktree_with_uncommitted_work(
    repo: Path, grepo: GitRepo, trees: Worktrees
) -> None:
    base = head(repo)
    old = trees.create("t1", "coordinator/task/t1", base)
    write(old, "precious.txt", "only copy\n")
    write(old, "README.md", "edited\n")
    grepo.rename_branch("coordinator/task/t1", "coordinator/old/t1")
    path = trees.create("t1", "coordinator/task/t1", base)
    aside = repo.resolve() / "worktrees" / ".stale-t1-1"
    assert (aside / "precious.txt").read_text() == "only copy\n"
    assert (aside / "README.md").read_text() == "edited\n"
    assert sorted(registered(grepo)) == sorted([path, aside])
    assert not (path / "precious.txt").exists()


def test_remove_sets_aside_work_and_frees_the_branch(
    repo: Path, grepo: GitRepo, trees: Worktrees
) -> None:
    """The engine removes, then renames the branch: both must work when work was left."""
    path = trees.create("t1", "coordinator/task/t1", head(repo))
    write(path, "new.txt", "work\n")
    aside = trees.remove("t1")
    assert aside is not None
    assert (aside / "new.txt").read_text() == "work\n"
    assert not path.exists()
    grepo.rename_branch("coordinator/task/t1", "coordinator/failed/r1/t1")
    assert trees.remove("t1") is None  # nothing there any more: a no-op
    trees.create("t1", "coordinator/task/t1", head(repo))
    write(repo / "worktrees" / "t1", "more.txt", "x")
    assert trees.remove("t1") == repo.resolve() / "worktrees" / ".stale-t1-2"


def test_remove_clean_deletes_and_force_deletes_work(
    repo: Path, grepo: GitRepo, trees: Worktrees
) -> None:
    path = trees.create("t1", "coordinator/task/t1", head(repo))
    assert trees.remove("t1") is None
    assert not path.exists()
    path = trees.create("t2", "coordinator/task/t2", head(repo))
    write(path, "junk.txt", "x")
    assert trees.remove("t2", force=True) is None
    assert not path.exists()
    assert registered(grepo) == []
    assert grepo.branch_exists("coordinator/task/t2")


def test_detached_worktree_with_unreferenced_commits_is_kept(
    repo: Path, grepo: GitRepo, trees: Worktrees
) -> None:
    path = trees.create("t1", "coordinator/task/t1", head(repo))
    git(path, "switch", "-q", "--detach")
    orphan = commit_file(path, "lost.txt", "x")
    aside = trees.remove("t1")
    assert aside is not None
    assert head(aside) == orphan


def test_unknown_leftover_directory_is_moved_not_deleted(
    repo: Path, grepo: GitRepo, trees: Worktrees
) -> None:
    leftover = write(repo, "worktrees/t1/notes.txt", "someone's notes\n").parent
    empty = repo / "worktrees" / "t2"
    empty.mkdir()
    path = trees.create("t1", "coordinator/task/t1", head(repo))
    assert (repo / "worktrees" / ".stale-t1-1" / "notes.txt").read_text() == "someone's notes\n"
    assert path == leftover.resolve()
    trees.create("t2", "coordinator/task/t2", head(repo))  # an empty directory is just reused
    assert not (repo / "worktrees" / ".stale-t2-1").exists()
    trees.remove("t1", force=True)
    write(repo, "worktrees/t1/again.txt", "x")
    assert trees.remove("t1", force=True) is not None  # force never deletes what git does not know


def test_symlink_planted_at_a_worktree_path_is_moved_and_target_untouched(
    repo: Path, tmp_path: Path, grepo: GitRepo, trees: Worktrees
) -> None:
    victim = tmp_path / "victim"
    write(victim, "data.txt", "keep\n")
    (repo / "worktrees").mkdir()
    (repo / "worktrees" / "t1").symlink_to(victim)
    path = trees.create("t1", "coordinator/task/t1", head(repo))
    assert path.is_dir() and not path.is_symlink()
    assert (victim / "data.txt").read_text() == "keep\n"
    assert (repo / "worktrees" / ".stale-t1-1").is_symlink()


def test_registration_whose_directory_vanished_is_pruned_on_create(
    repo: Path, grepo: GitRepo, trees: Worktrees
) -> None:
    path = trees.create("t1", "coordinator/task/t1", head(repo))
    os.rename(path, repo.parent / "moved-away")
    grepo.rename_branch("coordinator/task/t1", "coordinator/old/t1")
    again = trees.create("t1", "coordinator/task/t1", head(repo))
    assert registered(grepo) == [again]


def test_prune_reports_unknown_entries_and_forgets_missing(
    repo: Path, grepo: GitRepo, trees: Worktrees
) -> None:
    path = trees.create("t1", "coordinator/task/t1", head(repo))
    trees.create("t2", "coordinator/task/t2", head(repo))
    os.rename(path, repo.parent / "gone")
    write(repo, "worktrees/stray/file.txt", "x")
    assert trees.prune() == ["worktrees/stray"]
    assert [p.name for p in registered(grepo)] == ["t2"]
    assert (repo / "worktrees" / "stray" / "file.txt").exists()
