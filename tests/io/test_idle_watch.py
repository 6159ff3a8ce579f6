"""Idle pooled worktrees watched with real inotify: proven clean once when pooled, then taken
without a scan unless something was written meanwhile; a write is never taken as work."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gitutil import commit_file, git, head, write

from coordinator.io import gitworktree, idlewatch, worktreeclear, worktrees
from coordinator.io.gitrepo import GitRepo
from coordinator.io.idlewatch import IdleWatch
from coordinator.io.worktrees import Worktrees


@pytest.fixture
def idle() -> Iterator[IdleWatch]:
    watch = IdleWatch()
    yield watch
    watch.stop()


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every worktree the pool proved clean with a ``status`` scan, in order (a spy: the real
    scan runs)."""
    seen: list[Path] = []
    real = worktreeclear.changed

    def counted(repo: GitRepo, path: Path, *, write: bool = False) -> bool:
        seen.append(path)
        return real(repo, path, write=write)

    monkeypatch.setattr(worktrees, "changed", counted)
    monkeypatch.setattr(gitworktree, "LARGE_INDEX_BYTES", 0)  # every worktree counts as large
    return seen


def _tree(root: Path) -> None:
    write(root, "a.txt", "a\n")
    write(root, "sub/b.txt", "b\n")
    write(root, "sub/deeper/c.txt", "c\n")
    (root / "empty").mkdir()


WRITES: dict[str, Callable[[Path], object]] = {
    "append": lambda r: (r / "sub" / "deeper" / "c.txt").open("a").close(),
    "modify": lambda r: write(r, "sub/b.txt", "changed\n"),
    "create": lambda r: write(r, "sub/deeper/new.txt", "n\n"),
    "create in an empty directory": lambda r: write(r, "empty/new.txt", "n\n"),
    "mkdir": lambda r: (r / "sub" / "made").mkdir(),
    "delete": lambda r: (r / "a.txt").unlink(),
    "rename": lambda r: (r / "sub" / "b.txt").rename(r / "sub" / "b2.txt"),
    "chmod": lambda r: os.chmod(r / "a.txt", 0o755),
    "utime": lambda r: os.utime(r / "sub" / "deeper" / "c.txt", (1, 1)),
    "symlink": lambda r: os.symlink("a.txt", r / "sub" / "link"),
    "hard link": lambda r: os.link(r / "a.txt", r / "sub" / "deeper" / "a-again.txt"),
    "remove a directory": lambda r: shutil.rmtree(r / "sub" / "deeper"),
}


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_every_kind_of_write_is_noticed_at_once(tmp_path: Path, idle: IdleWatch,
                                                kind: str) -> None:  # fmt: skip
    _tree(tmp_path)
    assert idle.watch(tmp_path)
    assert idle.quiet(tmp_path)
    WRITES[kind](tmp_path)
    assert not idle.quiet(tmp_path)  # queued by the kernel before the write returned


def test_reading_and_listing_write_nothing(tmp_path: Path, idle: IdleWatch) -> None:
    _tree(tmp_path)
    assert idle.watch(tmp_path)
    assert (tmp_path / "sub" / "b.txt").read_text() == "b\n"
    assert sorted(p.name for p in tmp_path.rglob("*"))
    os.stat(tmp_path / "a.txt")
    assert idle.quiet(tmp_path)


def test_a_forgotten_or_stopped_watch_is_never_quiet(tmp_path: Path, idle: IdleWatch) -> None:
    _tree(tmp_path)
    assert not idle.quiet(tmp_path)  # never watched
    assert idle.watch(tmp_path)
    idle.forget(tmp_path)
    assert not idle.quiet(tmp_path)
    assert idle.watch(tmp_path) and idle.quiet(tmp_path)  # watched again: a new start
    idle.stop()
    idle.stop()
    assert not idle.quiet(tmp_path)
    assert not idle.watch(tmp_path)


def test_too_many_directories_are_not_watched(
    tmp_path: Path, idle: IdleWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tree(tmp_path)
    monkeypatch.setattr(idlewatch, "MAX_DIRS", 2)
    assert not idle.watch(tmp_path)
    assert not idle.quiet(tmp_path)


def _pool(grepo: GitRepo, idle: IdleWatch | None) -> Worktrees:
    return Worktrees(grepo, "worktrees", pool_size=2, idle=idle)


def test_a_quiet_pooled_worktree_is_taken_without_a_scan(
    repo: Path, grepo: GitRepo, idle: IdleWatch, scans: list[Path]
) -> None:
    trees = _pool(grepo, idle)
    a = trees.create("a", "coordinator/task/a", head(repo))
    write(a, "work.txt", "a's work\n")  # committed by the task's collect in a real run
    git(a, "add", "-A")
    git(a, "commit", "-q", "-m", "a")
    landed = head(a)
    assert trees.release("a", onto=landed)
    pooled = repo.resolve() / "worktrees" / ".pool-1"
    assert scans == [pooled]  # proven clean once, when pooled
    assert idle.quiet(pooled)
    b = trees.create("b", "coordinator/task/b", landed)
    assert scans == [pooled]  # and not again when taken
    assert (b / "work.txt").read_text() == "a's work\n"
    assert git(b, "status", "--porcelain", "--ignored") == ""
    assert not idle.quiet(pooled)  # no longer watched


def test_a_file_written_into_a_watched_idle_worktree_is_set_aside(
    repo: Path, grepo: GitRepo, idle: IdleWatch, scans: list[Path]
) -> None:
    trees = _pool(grepo, idle)
    trees.create("a", "coordinator/task/a", head(repo))
    assert trees.release("a")
    pooled = repo.resolve() / "worktrees" / ".pool-1"
    write(pooled, "README.md", "someone's edit\n")  # a tracked file, in place
    assert not idle.quiet(pooled)
    b = trees.create("b", "coordinator/task/b", head(repo))
    assert len(scans) == 2  # the take scanned, found the edit...
    assert git(b, "status", "--porcelain") == ""  # ...and b is a fresh worktree
    aside = list((repo / "worktrees").glob(".stale-*/README.md"))
    assert [p.read_text() for p in aside] == ["someone's edit\n"]


def test_a_worktree_not_clean_when_pooled_is_scanned_when_taken(
    repo: Path, grepo: GitRepo, idle: IdleWatch, scans: list[Path]
) -> None:
    trees = _pool(grepo, idle)
    a = trees.create("a", "coordinator/task/a", head(repo))
    write(a, "stray.txt", "written after the work was collected\n")
    assert trees.release("a")
    pooled = repo.resolve() / "worktrees" / ".pool-1"
    assert not idle.quiet(pooled)  # the proof failed: not vouched for
    trees.create("b", "coordinator/task/b", head(repo))
    assert scans[-1] == repo.resolve() / "worktrees" / "b"
    aside = list((repo / "worktrees").glob(".stale-*/stray.txt"))
    assert len(aside) == 1


def test_without_a_watch_the_take_scans_as_before(
    repo: Path, grepo: GitRepo, scans: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idlewatch, "MAX_DIRS", 0)  # inotify refuses: as if its limits were hit
    watch = IdleWatch()
    trees = _pool(grepo, watch)
    trees.create("a", "coordinator/task/a", head(repo))
    assert trees.release("a")
    assert scans == []  # nothing proven when pooled
    second = commit_file(repo, "README.md", "moved on\n")
    b = trees.create("b", "coordinator/task/b", second)
    assert scans == [b]
    assert (b / "README.md").read_text() == "moved on\n"
    watch.stop()


def test_a_watch_armed_before_the_last_changes_and_the_move_sees_what_came_after(
    tmp_path: Path, idle: IdleWatch
) -> None:
    """As the pool does: the walk begins, the job switches files (making directories), the
    walk is joined and the worktree moved; then the watch is finished at the new path. The
    job's own writes are not counted; every directory, old or made meanwhile, is watched from
    then on."""
    before = tmp_path / "task"
    _tree(before)
    armed = idle.arm(before)
    assert armed is not None
    write(before, "made/while/arming/f.txt", "by the switch\n")  # new directories
    (before / "sub" / "deeper" / "c.txt").unlink()
    assert armed.join() is None
    after = tmp_path / ".pool-1"
    before.rename(after)
    assert idle.watch(after, armed)
    assert idle.quiet(after)  # the job's own changes are not a write into an idle worktree
    write(after, "made/while/arming/g.txt", "someone\n")
    assert not idle.quiet(after)


@pytest.mark.parametrize("where", ["made", "made/deeper"])
def test_directories_made_while_arming_are_watched(
    tmp_path: Path, idle: IdleWatch, where: str
) -> None:
    _tree(tmp_path)
    armed = idle.arm(tmp_path)
    assert armed is not None
    (tmp_path / where).mkdir(parents=True)
    assert idle.watch(tmp_path, armed) and idle.quiet(tmp_path)
    write(tmp_path / where, "late.txt", "x\n")
    assert not idle.quiet(tmp_path)


def test_a_disarmed_watch_is_given_up(tmp_path: Path, idle: IdleWatch) -> None:
    _tree(tmp_path)
    armed = idle.arm(tmp_path)
    assert armed is not None
    idle.disarm(armed)
    with pytest.raises(OSError):
        os.fstat(armed.fd)  # closed
    assert not idle.quiet(tmp_path)


def test_a_release_finishes_the_walk_before_it_moves_the_worktree(
    repo: Path, grepo: GitRepo, idle: IdleWatch, scans: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The walk names directories by path: one still running when the worktree moves would
    take the moved directories for deleted ones and leave them unwatched."""
    order: list[str] = []
    real_join, real_move = idlewatch.Arming.join, GitRepo.worktree_move

    def join(self: idlewatch.Arming) -> OSError | None:
        order.append("join")
        return real_join(self)

    def move(self: GitRepo, path: Path, new_path: Path) -> None:
        order.append(f"move to {new_path.name}")
        real_move(self, path, new_path)

    monkeypatch.setattr(idlewatch.Arming, "join", join)
    monkeypatch.setattr(GitRepo, "worktree_move", move)
    trees = _pool(grepo, idle)
    trees.create("a", "coordinator/task/a", head(repo))
    assert trees.release("a")
    assert order[:2] == ["join", "move to .pool-1"]
