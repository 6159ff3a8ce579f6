"""A large task worktree's index (``LARGE_INDEX_BYTES``, made 0 here so a small repository
counts): it is split, and its work is staged from one ``status`` answered by the untracked
cache instead of ``add -A``. The two ways must stage exactly the same tree."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from gitutil import commit_file, git, head, write

from coordinator.core.config import Identity
from coordinator.errors import GitError
from coordinator.io import gitworktree
from coordinator.io.gitrepo import GitRepo
from coordinator.io.gituntracked import ident, relocate
from coordinator.io.gitworktree import large_index, own_git_dir, to_stage
from coordinator.io.workcheck import collect_work
from coordinator.io.worktrees import Worktrees

WHO = Identity(name="t", email="t@localhost")
OURS = ("-c", "core.untrackedCache=true", "-c", "index.threads=true")  # as INDEX_OPTIONS


@pytest.fixture
def everything_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gitworktree, "LARGE_INDEX_BYTES", 0)


def _seed(repo: Path) -> str:
    files = {".gitignore": "build/\n*.log\n", "src/a.txt": "a\n", "src/b.txt": "b\n",
             "src/deep/c.txt": "c\n", "run.sh": "echo\n", "gone.txt": "x\n",
             "link-me.txt": "l\n", "staged.txt": "s\n", "dir-to-be": "f\n"}  # fmt: skip
    for rel, text in files.items():
        write(repo, rel, text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "seed")
    return head(repo)


def _agent_work(wt: Path) -> None:
    """Every kind of change an agent leaves behind, the same in each worktree."""
    write(wt, "src/a.txt", "a changed\n")
    (wt / "gone.txt").unlink()
    write(wt, "src/new/nested/n.txt", "new in a new directory\n")
    write(wt, "src/deep/d.txt", "new in an existing directory\n")
    write(wt, "with space\nand newline.txt", "odd name\n")
    write(wt, os.fsdecode(b"caf\xe9.txt"), "not utf-8\n")
    os.chmod(wt / "run.sh", 0o755)
    (wt / "link-me.txt").unlink()
    os.symlink("src/a.txt", wt / "link-me.txt")
    write(wt, "staged.txt", "staged by the agent\n")
    git(wt, "add", "staged.txt")
    write(wt, "build/out.o", "ignored\n")
    write(wt, "trace.log", "ignored\n")
    (wt / "empty-dir").mkdir()
    (wt / "dir-to-be").unlink()
    write(wt, "dir-to-be/inside.txt", "a file became a directory\n")
    write(wt, "later.txt", "x\n")
    git(wt, "add", "-N", "later.txt")  # intent to add


def test_listed_staging_stages_the_same_tree_as_add_all(repo: Path, grepo: GitRepo) -> None:
    base = _seed(repo)
    trees = []
    for name, listed in (("plain", False), ("listed", True)):
        wt = repo.parent / name
        grepo.worktree_add(wt, f"coordinator/task/{name}", base)
        _agent_work(wt)
        trees.append(grepo.stage_all(wt, keep_out=["src/deep/d.txt"], listed=listed))
        assert git(wt, "diff-files", "--name-only") == ""  # the index holds every file
        assert git(wt, "ls-files", "--others", "--exclude-standard") == "src/deep/d.txt\n"
    assert trees[0] == trees[1]
    names = git(repo, "ls-tree", "-r", "--name-only", trees[1]).splitlines()
    assert "src/new/nested/n.txt" in names and "dir-to-be/inside.txt" in names
    assert "gone.txt" not in names and "build/out.o" not in names and "trace.log" not in names


def test_to_stage_takes_the_worktree_side_only() -> None:
    out = b"M  staged\0 M changed\0 D deleted\0?? new/\0UU both\0DD gone\0A  added\0 A ita\0"
    assert to_stage(out) == [b"changed", b"deleted", b"new/", b"both", b"gone", b"ita"]
    assert to_stage(b"") == []


def test_a_large_worktree_gets_a_split_index(
    repo: Path, grepo: GitRepo, everything_large: None
) -> None:
    wt = repo.parent / "wt"
    grepo.worktree_add(wt, "coordinator/task/a", head(repo))
    admin = own_git_dir(wt)
    assert admin is not None and large_index(admin)
    assert list(admin.glob("sharedindex.*"))
    assert git(wt, "status", "--porcelain") == ""


def test_a_small_worktree_is_left_as_it_was(repo: Path, grepo: GitRepo) -> None:
    wt = repo.parent / "wt"
    grepo.worktree_add(wt, "coordinator/task/a", head(repo))
    admin = own_git_dir(wt)
    assert admin is not None and not large_index(admin)
    assert not list(admin.glob("sharedindex.*"))
    assert own_git_dir(repo.parent) is None  # no .git file there


def _cycle(repo: Path, grepo: GitRepo, write_work: Callable[[Path], None]) -> list[str]:
    """Two warm tasks through the pool, each collected: the files each task's commit changed."""
    trees = Worktrees(grepo, "worktrees", pool_size=1)
    changed = []
    for task in ("a", "b"):
        base = head(repo)
        branch = f"coordinator/task/{task}"
        path = trees.take(task, branch, base).path
        write_work(path)
        check = collect_work(grepo, worktree=path, branch=branch, base=base, identity=WHO,
                             message=task)  # fmt: skip
        assert check.ok
        changed.append(sorted(grepo.changed_files(base, check.head)))
        git(repo, "merge", "-q", "--ff-only", check.head)
        assert trees.release(task, check.head)
    return [",".join(c) for c in changed]


def test_warm_tasks_on_a_large_index_collect_every_change(
    repo: Path, grepo: GitRepo, everything_large: None
) -> None:
    """The take's status writes the untracked cache at the task's path; the collect's status
    reads it: a file new in an unchanged-looking directory is still found (ctime)."""
    commit_file(repo, "src/one.txt", "1\n")

    def work(path: Path) -> None:
        directory = path / "src"
        before = directory.stat()
        name = "b.txt" if (path / "src" / "a.txt").exists() else "a.txt"
        write(path, f"src/{name}", name)
        os.utime(directory, ns=(before.st_atime_ns, before.st_mtime_ns))
        write(path, f"top-{name}", name)

    assert _cycle(repo, grepo, work) == ["src/a.txt,top-a.txt", "src/b.txt,top-b.txt"]


def test_ignored_files_go_when_the_worktree_joins_the_pool(repo: Path, grepo: GitRepo) -> None:
    write(repo, ".gitignore", "build/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "ignore")
    trees = Worktrees(grepo, "worktrees", pool_size=1)
    a = trees.create("a", "coordinator/task/a", head(repo))
    write(a, "build/out.o", "ignored")
    write(a, "written-after-collection.txt", "someone's work")
    assert trees.release("a")
    pooled = repo / "worktrees" / ".pool-1"
    assert not (pooled / "build").exists()  # deleted on the way into the pool
    assert (pooled / "written-after-collection.txt").read_text() == "someone's work"
    b = trees.create("b", "coordinator/task/b", head(repo))  # not clean: set aside
    assert not (b / "written-after-collection.txt").exists()
    aside = list((repo / "worktrees").glob(".stale-*/written-after-collection.txt"))
    assert [p.read_text() for p in aside] == ["someone's work"]


def _untr_ident(admin: Path) -> bytes:
    data = (admin / "index").read_bytes()
    at = data.index(b"UNTR") + 8
    return data[at + 1 : at + 1 + data[at]]


def test_relocate_writes_the_stamp_git_itself_writes(
    repo: Path, grepo: GitRepo, everything_large: None
) -> None:
    """Moved, stamped for the new place: git keeps the cache (no rebuild: no node is made)."""
    first, moved = repo.parent / "first", repo.parent / "moved"
    grepo.worktree_add(first, "coordinator/task/a", head(repo))
    git(first, *OURS, "status", "--porcelain")  # git stamps it, and writes an EOIE
    admin = own_git_dir(first)
    assert admin is not None and _untr_ident(admin) == ident(first)
    grepo.worktree_move(first, moved)
    before = (admin / "index").stat()
    assert relocate(admin, moved)
    assert (admin / "index").stat().st_mtime_ns == before.st_mtime_ns  # racy-git reference
    assert _untr_ident(admin) == ident(moved)
    assert not relocate(admin, moved)  # already there: nothing rewritten
    trace = repo.parent / "trace"
    git(moved, *OURS, "status", "--porcelain", env={"GIT_TRACE2_PERF": str(trace)})
    assert "node-creation:0" in trace.read_text()
    write(moved, "src/new.txt", "found\n")
    assert git(moved, *OURS, "status", "--porcelain") == "?? src/\n"


def test_relocate_leaves_anything_unexpected_alone(repo: Path, grepo: GitRepo) -> None:
    wt = repo.parent / "wt"
    grepo.worktree_add(wt, "coordinator/task/a", head(repo))
    admin = own_git_dir(wt)
    assert admin is not None
    index = admin / "index"
    git(wt, *OURS, "update-index", "--no-untracked-cache")
    original = index.read_bytes()
    assert not relocate(admin, repo.parent / "elsewhere")  # no untracked cache in it
    for damaged in (original[:-1] + bytes([original[-1] ^ 1]), b"DIRC", b""):
        index.write_bytes(damaged)
        assert not relocate(admin, repo.parent / "elsewhere")
        assert index.read_bytes() == damaged
    index.write_bytes(original)
    git(wt, *OURS, "status", "--porcelain")
    (admin / "index.lock").write_bytes(b"")  # someone holds the index
    assert not relocate(admin, repo.parent / "elsewhere")


def test_listed_staging_of_a_sparse_checkout_matches_add_all(repo: Path, grepo: GitRepo) -> None:
    """Files written outside the checked-out patterns are staged the same way too."""
    base = _seed(repo)
    trees = []
    for name, listed in (("plain", False), ("listed", True)):
        wt = repo.parent / name
        grepo.worktree_add(wt, f"coordinator/task/{name}", base, no_checkout=True)
        grepo.sparse_checkout(wt, ["/src/deep/"])
        assert not (wt / "src" / "a.txt").exists()
        write(wt, "src/deep/c.txt", "changed inside\n")
        write(wt, "src/a.txt", "written outside the patterns\n")
        write(wt, "outside/new.txt", "new outside\n")
        trees.append(grepo.stage_all(wt, listed=listed))
    assert trees[0] == trees[1]
    names = git(repo, "ls-tree", "-r", "--name-only", trees[1]).splitlines()
    assert "outside/new.txt" in names and "src/b.txt" in names
    assert git(repo, "show", f"{trees[1]}:src/a.txt") == "written outside the patterns\n"


def test_a_plain_worktree_move_is_what_git_would_write(repo: Path, grepo: GitRepo) -> None:
    by_git, by_us = repo.parent / "by-git", repo.parent / "by-us"
    grepo.worktree_add(by_git, "coordinator/task/a", head(repo))
    grepo.worktree_add(by_us, "coordinator/task/b", head(repo))
    git(repo, "worktree", "move", str(by_git), str(by_git) + "-moved")
    grepo.worktree_move(by_us, repo.parent / "by-us-moved")
    moved = {w.path.name: w for w in grepo.worktree_list()}
    assert {"by-git-moved", "by-us-moved"} <= moved.keys() and not by_us.exists()
    for name in ("by-git-moved", "by-us-moved"):  # the same text git writes
        admin = own_git_dir(repo.parent / name)
        assert admin is not None
        assert (admin / "gitdir").read_text() == f"{(repo.parent / name).resolve()}/.git\n"
    assert git(repo.parent / "by-us-moved", "status", "--porcelain") == ""
    assert git(repo.parent / "by-us-moved", "rev-parse", "--show-toplevel").strip() == str(
        (repo.parent / "by-us-moved").resolve())


def test_a_move_git_would_refuse_is_still_refused(repo: Path, grepo: GitRepo) -> None:
    locked, other = repo.parent / "locked", repo.parent / "other"
    grepo.worktree_add(locked, "coordinator/task/a", head(repo))
    grepo.worktree_add(other, "coordinator/task/b", head(repo))
    git(repo, "worktree", "lock", str(locked))
    with pytest.raises(GitError, match="locked"):
        grepo.worktree_move(locked, repo.parent / "elsewhere")
    assert locked.is_dir() and not (repo.parent / "elsewhere").exists()
    other.rename(repo.parent / "gone")  # a registration left pointing at "other"
    with pytest.raises(GitError):
        grepo.worktree_move(locked, other)  # git: locked, and "other" is still registered
    git(repo, "worktree", "unlock", str(locked))
    with pytest.raises(GitError, match=r"already registered|missing but"):
        grepo.worktree_move(locked, other)
    assert locked.is_dir() and not other.exists()
