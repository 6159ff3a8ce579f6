"""Warm worktrees: a merged task's worktree reused for the next task, on real repositories."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from gitutil import commit_file, git, head, write

from coordinator.io.gitrepo import GitRepo
from coordinator.io.pool import PoolRecord
from coordinator.io.worktrees import Worktrees


def pool(grepo: GitRepo, size: int = 2, *, reuse_ignored: bool = False) -> Worktrees:
    return Worktrees(grepo, "worktrees", pool_size=size, reuse_ignored=reuse_ignored)


def record(repo: Path) -> list[str]:
    path = repo / ".git" / "coordinator" / "worktree-pool.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"worktrees": []}
    return [Path(entry["path"]).name for entry in data["worktrees"]]


def test_a_released_worktree_is_reused_rewriting_only_what_differs(
    repo: Path, grepo: GitRepo
) -> None:
    write(repo, ".gitignore", "build/\n")
    write(repo, "keep.txt", "same\n")
    write(repo, "change.txt", "one\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "files")
    first = head(repo)
    trees = pool(grepo)
    a = trees.create("a", "coordinator/task/a", first)
    write(a, "build/out.o", "binary")  # ignored build output
    kept_inode = (a / "keep.txt").stat().st_ino
    assert trees.release("a")
    assert not a.exists() and record(repo) == [".pool-1"]
    second = commit_file(repo, "change.txt", "two\n")
    b = trees.create("b", "coordinator/task/b", second)
    assert b == repo.resolve() / "worktrees" / "b"
    assert record(repo) == []
    assert (b / "keep.txt").stat().st_ino == kept_inode  # not rewritten
    assert (b / "change.txt").read_text() == "two\n"
    assert not (b / "build").exists()  # reuse_ignored = false: a clean start
    assert git(b, "symbolic-ref", "HEAD").strip() == "refs/heads/coordinator/task/b"
    assert git(b, "rev-parse", "HEAD").strip() == second
    assert git(b, "status", "--porcelain", "--ignored") == ""
    assert git(repo, "rev-parse", "coordinator/task/a").strip() == first  # a's branch stays


def test_reuse_ignored_keeps_build_output(repo: Path, grepo: GitRepo) -> None:
    write(repo, ".gitignore", "node_modules/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "ignore")
    trees = pool(grepo, reuse_ignored=True)
    a = trees.create("a", "coordinator/task/a", head(repo))
    write(a, "node_modules/pkg/index.js", "x")
    assert trees.release("a")
    b = trees.create("b", "coordinator/task/b", head(repo))
    assert (b / "node_modules" / "pkg" / "index.js").read_text() == "x"


def test_release_refuses_when_full_off_or_sparse(repo: Path, grepo: GitRepo) -> None:
    base = head(repo)
    off = Worktrees(grepo, "worktrees")
    off.create("a", "coordinator/task/a", base)
    assert not off.release("a")
    trees = pool(grepo, size=1)
    assert trees.release("a")
    trees.create("b", "coordinator/task/b", base)  # takes the pooled one
    trees.create("c", "coordinator/task/c", base)
    assert trees.release("b")
    assert not trees.release("c")  # full: c stays where it is, on its branch
    assert (repo / "worktrees" / "c").is_dir()
    trees.create("s", "coordinator/task/s", base, sparse=["README.md"])
    trees.remove_pool()
    assert not trees.release("s")


def test_a_pooled_worktree_holding_files_is_set_aside_not_cleaned(
    repo: Path, grepo: GitRepo
) -> None:
    trees = pool(grepo)
    a = trees.create("a", "coordinator/task/a", head(repo))
    assert trees.release("a")
    stray = repo / "worktrees" / ".pool-1" / "written-later.txt"
    write(stray.parent, stray.name, "someone's work")
    b = trees.create("b", "coordinator/task/b", head(repo))
    assert not (b / "written-later.txt").exists()  # a fresh worktree instead
    aside = list((repo / "worktrees").glob(".stale-*/written-later.txt"))
    assert [p.read_text() for p in aside] == ["someone's work"]
    assert not a.exists()


def test_reconcile_finds_lost_pooled_worktrees_and_forgets_gone_ones(
    repo: Path, grepo: GitRepo
) -> None:
    trees = pool(grepo, size=3)
    for task in ("a", "b"):
        trees.create(task, f"coordinator/task/{task}", head(repo))
    assert trees.release("a") and trees.release("b")
    assert record(repo) == [".pool-1", ".pool-2"]
    PoolRecord(repo / ".git" / "coordinator" / "worktree-pool.json").write([])  # a cut-off write
    notes = trees.reconcile_pool()
    assert record(repo) == [".pool-1", ".pool-2"]
    assert len(notes) == 2 and "found again" in notes[0]
    git(repo, "worktree", "remove", "--force", str(repo / "worktrees" / ".pool-1"))
    trees.reconcile_pool()
    assert record(repo) == [".pool-2"]
    git(repo / "worktrees" / ".pool-2", "switch", "-q", "-c", "someone")  # no longer idle
    assert "not clean" in " ".join(trees.reconcile_pool())
    assert record(repo) == []


def test_remove_pool_and_a_smaller_pool(repo: Path, grepo: GitRepo) -> None:
    trees = pool(grepo, size=3)
    for task in ("a", "b", "c"):
        trees.create(task, f"coordinator/task/{task}", head(repo))
    assert all(trees.release(task) for task in ("a", "b", "c"))
    pool(grepo, size=1).reconcile_pool()
    assert record(repo) == [".pool-1"]
    assert sorted(p.name for p in (repo / "worktrees").iterdir()) == [".pool-1"]
    removed = trees.remove_pool()
    assert [Path(p).name for p in removed] == [".pool-1"]
    assert record(repo) == [] and list((repo / "worktrees").iterdir()) == []


def test_release_onto_the_landed_commit_moves_the_files_before_the_next_start(
    repo: Path, grepo: GitRepo
) -> None:
    base = head(repo)
    trees = pool(grepo)
    a = trees.create("a", "coordinator/task/a", base)
    landed = commit_file(repo, "other.txt", "landed meanwhile\n")
    assert trees.release("a", onto=landed)
    pooled = repo / "worktrees" / ".pool-1"
    assert (pooled / "other.txt").read_text() == "landed meanwhile\n"  # moved in the release
    assert git(pooled, "rev-parse", "HEAD").strip() == landed
    assert git(pooled, "status", "--porcelain", "--ignored") == ""
    assert json.loads((repo / ".git/coordinator/worktree-pool.json").read_text())[
        "worktrees"][0]["head"] == landed  # fmt: skip
    kept_inode = (pooled / "other.txt").stat().st_ino
    b = trees.create("b", "coordinator/task/b", landed)
    assert (b / "other.txt").stat().st_ino == kept_inode
    assert git(b, "symbolic-ref", "HEAD").strip() == "refs/heads/coordinator/task/b"
    assert git(repo, "rev-parse", "coordinator/task/a").strip() == base  # a's branch stays
    assert not a.exists()


def test_release_onto_refused_by_a_change_pools_it_where_it_was(repo: Path, grepo: GitRepo) -> None:
    """A changed file ``read-tree`` would overwrite: nothing is overwritten, the worktree is
    pooled at its own commit, and the next start finds the change and sets it aside."""
    trees = pool(grepo)
    base = head(repo)
    a = trees.create("a", "coordinator/task/a", base)
    landed = commit_file(repo, "README.md", "landed\n")
    write(a, "README.md", "someone's edit\n")
    assert trees.release("a", onto=landed)
    assert git(repo / "worktrees" / ".pool-1", "rev-parse", "HEAD").strip() == base
    assert (repo / "worktrees" / ".pool-1" / "README.md").read_text() == "someone's edit\n"
    b = trees.create("b", "coordinator/task/b", landed)
    assert (b / "README.md").read_text() == "landed\n"  # a fresh worktree
    aside = list((repo / "worktrees").glob(".stale-*/README.md"))
    assert [p.read_text() for p in aside] == ["someone's edit\n"]


def test_reuse_ignored_still_sets_aside_untracked_files(repo: Path, grepo: GitRepo) -> None:
    write(repo, ".gitignore", "build/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "ignore")
    trees = pool(grepo, reuse_ignored=True)
    trees.create("a", "coordinator/task/a", head(repo))
    assert trees.release("a")
    write(repo / "worktrees" / ".pool-1", "build/out.o", "kept")
    write(repo / "worktrees" / ".pool-1", "stray.txt", "someone's work")
    b = trees.create("b", "coordinator/task/b", head(repo))
    assert not (b / "stray.txt").exists() and not (b / "build").exists()
    assert [p.read_text() for p in (repo / "worktrees").glob(".stale-*/stray.txt")] == [
        "someone's work"
    ]


def test_a_registration_left_at_the_path_does_not_stop_a_warm_start(
    repo: Path, grepo: GitRepo
) -> None:
    """Someone deleted b's old worktree by hand: git still lists it, so moving a pooled one
    there fails; the start clears the registration and still gets a worktree."""
    trees = pool(grepo)
    base = head(repo)
    old_b = trees.create("b", "coordinator/task/b0", base)
    trees.create("c", "coordinator/task/c", base)
    assert trees.release("c") and record(repo) == [".pool-1"]
    shutil.rmtree(old_b)
    assert any(w.path == old_b for w in grepo.worktree_list())  # still registered
    b = trees.create("b", "coordinator/task/b", base)
    assert b == old_b and record(repo) == []
    assert git(b, "symbolic-ref", "HEAD").strip() == "refs/heads/coordinator/task/b"
    assert git(b, "status", "--porcelain") == ""


def test_a_start_waits_for_a_worktree_coming_back_instead_of_writing_every_file(
    repo: Path, grepo: GitRepo
) -> None:
    trees = pool(grepo, size=1)
    base = head(repo)
    trees.create("a", "coordinator/task/a", base)
    trees._fresh_seconds = 60.0  # generous: the release below comes long before
    taken: list[tuple[Path, bool, str]] = []
    starter = threading.Thread(
        target=lambda: taken.append(trees.take("b", "coordinator/task/b", base, coming=True))
    )
    starter.start()
    assert trees.release("a")
    starter.join(timeout=60)
    assert taken == [(repo.resolve() / "worktrees" / "b", False, base)]  # warm, not a fresh add
    assert record(repo) == []


def test_the_wait_is_bounded_by_what_a_fresh_worktree_costs(repo: Path, grepo: GitRepo) -> None:
    trees = pool(grepo, size=1)
    trees._fresh_seconds = 0.05
    path, fresh, _ = trees.take("b", "coordinator/task/b", head(repo), coming=True)
    assert fresh and path.is_dir()  # nothing came back: a fresh worktree after the wait
    assert 0 < trees._fresh_seconds <= 10.0  # the add just made is the next bound


def test_a_start_waits_for_a_release_under_way_to_its_end(
    repo: Path, grepo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release moves and switches its worktree outside the pool's lock; a start that finds
    it under way waits for it however short the bound for a worktree still being merged (as
    when the release held the lock throughout), instead of writing every file afresh."""
    trees = pool(grepo, size=1)
    base = head(repo)
    trees.create("a", "coordinator/task/a", base)
    trees._fresh_seconds = 0.0  # no wait at all for a worktree whose release has not begun
    waiting = threading.Event()

    class Watched(threading.Condition):
        def wait(self, timeout: float | None = None) -> bool:
            waiting.set()
            return super().wait(timeout)

    trees._returned = Watched(trees.pool.lock)
    taken: list[tuple[Path, bool, str]] = []
    starter = threading.Thread(
        target=lambda: taken.append(trees.take("b", "coordinator/task/b", base, coming=True))
    )
    real_move = GitRepo.worktree_move

    def move(self: GitRepo, path: Path, new_path: Path) -> None:
        if new_path.name.startswith(".pool-"):  # the release, its name reserved
            starter.start()
            assert waiting.wait(timeout=30)  # the start waits for this release to end
        real_move(self, path, new_path)

    monkeypatch.setattr(GitRepo, "worktree_move", move)
    assert trees.release("a")
    starter.join(timeout=60)
    assert taken == [(repo.resolve() / "worktrees" / "b", False, base)]  # warm, not fresh
    assert record(repo) == []
