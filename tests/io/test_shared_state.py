"""SharedState on real repositories: what an agent changes is put back, kept, and reported."""

from __future__ import annotations

import queue
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_util import wait_until
from gitutil import commit_file, git, git_test_env, write

from coordinator.core.config import Identity
from coordinator.core.refdelta import parse_refs
from coordinator.io.gitrepo import GitRepo
from coordinator.io.shared_state import Finding, LiveAgents, SharedChanged, SharedState

TARGET = "refs/heads/coordinator/integration"
BOT = Identity(name="bot", email="bot@example.com")


@dataclass
class Guarded:
    root: Path
    repo: GitRepo
    state: SharedState
    live: LiveAgents

    @property
    def git_dir(self) -> Path:
        return self.root / ".git"


@pytest.fixture
def guarded(repo: Path) -> Iterator[Guarded]:
    write(repo, ".git/hooks/pre-commit", "#!/bin/sh\nexit 0\n").chmod(0o755)
    git(repo, "branch", "coordinator/integration")
    git(repo, "tag", "v1")
    live = LiveAgents()
    with GitRepo.discover(repo) as opened:
        state = SharedState(opened, run_id="r1", target_ref=TARGET, live=live,
                            quarantine=repo / ".git" / "coordinator" / "quarantine")  # fmt: skip
        state.snapshot()
        yield Guarded(repo, opened, state, live)
        state.stop()


def test_config_change_is_undone_and_the_changed_copy_kept(guarded: Guarded) -> None:
    original = (guarded.git_dir / "config").read_bytes()
    git(guarded.root, "config", "core.fsmonitor", "/tmp/evil")
    guarded.live.add("agent-a", "worktree")
    found = guarded.state.check_files()
    assert (guarded.git_dir / "config").read_bytes() == original
    assert [f.what for f in found] == ["files"] and found[0].blamed == "agent-a"
    assert "config changed" in found[0].message
    kept = guarded.git_dir / "coordinator" / "quarantine" / "r1" / "1" / "config"
    assert b"/tmp/evil" in kept.read_bytes()
    assert guarded.state.blame_of("agent-a") and guarded.state.check_files() == []


def test_planted_hook_is_removed_deleted_one_restored_with_its_mode(guarded: Guarded) -> None:
    write(guarded.root, ".git/hooks/post-checkout", "#!/bin/sh\ntouch pwned\n").chmod(0o755)
    (guarded.git_dir / "hooks" / "pre-commit").unlink()
    write(guarded.root, ".git/info/attributes", "* filter=evil\n")
    guarded.live.add("a", "worktree")
    guarded.live.add("b", "worktree")
    found = guarded.state.check_files()
    assert not (guarded.git_dir / "hooks" / "post-checkout").exists()
    assert not (guarded.git_dir / "info" / "attributes").exists()
    restored = guarded.git_dir / "hooks" / "pre-commit"
    assert restored.read_text() == "#!/bin/sh\nexit 0\n" and restored.stat().st_mode & 0o111
    assert found[0].blamed is None and found[0].suspects == ("a", "b")  # two ran: nobody blamed
    for said in ("hooks/post-checkout created", "hooks/pre-commit deleted",
                 "info/attributes created"):  # fmt: skip
        assert said in found[0].message


def test_the_watcher_undoes_a_change_as_it_happens(guarded: Guarded) -> None:
    events: queue.SimpleQueue[object] = queue.SimpleQueue()
    guarded.state.watch(events)
    original = (guarded.git_dir / "config").read_bytes()
    git(guarded.root, "config", "alias.x", "!touch pwned")  # git writes config.lock, renames
    event = events.get(timeout=30)
    assert isinstance(event, SharedChanged) and "config changed" in event.findings[0].message
    assert (guarded.git_dir / "config").read_bytes() == original


def test_git_reading_the_config_costs_the_watcher_no_look(
    guarded: Guarded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every git command opens ``config``: a look per open made the watcher half the run's CPU."""
    looks: list[int] = []
    check_files = guarded.state.check_files

    def counted() -> list[Finding]:
        looks.append(1)
        return check_files()

    monkeypatch.setattr(guarded.state, "check_files", counted)
    events: queue.SimpleQueue[object] = queue.SimpleQueue()
    guarded.state.watch(events)
    for _ in range(20):
        git(guarded.root, "config", "--get", "user.name")  # opens and reads config
    git(guarded.root, "config", "alias.x", "!touch pwned")  # then one change, seen after them
    event = events.get(timeout=30)
    assert isinstance(event, SharedChanged) and "config changed" in event.findings[0].message
    assert 1 <= len(looks) <= 5, len(looks)  # the change and the put-back, not 40 reads


def test_a_hooks_directory_made_during_the_run_is_watched(tmp_path: Path, repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    for hook in hooks.iterdir():
        hook.unlink()
    hooks.rmdir()
    with GitRepo.discover(repo) as opened:
        state = SharedState(opened, run_id="r", target_ref=TARGET, live=LiveAgents(),
                            quarantine=tmp_path / "q")  # fmt: skip
        state.snapshot()
        events: queue.SimpleQueue[object] = queue.SimpleQueue()
        state.watch(events)
        try:
            hooks.mkdir()
            write(repo, ".git/hooks/post-merge", "#!/bin/sh\n")
            wait_until("the planted hook removed", lambda: not hooks.exists()
                       or not (hooks / "post-merge").exists())  # fmt: skip
        finally:
            state.stop()
        assert state.check_files() == []


def test_a_moved_target_is_restored_and_the_value_kept(guarded: Guarded) -> None:
    expected = guarded.state.expected_target
    other = commit_file(guarded.root, "x.txt", "x\n")
    git(guarded.root, "update-ref", TARGET, other)
    guarded.live.add("mover", "worktree")
    found = guarded.state.check({}, frozenset())
    assert git(guarded.root, "rev-parse", TARGET).strip() == expected
    kept = "refs/coordinator/quarantine/r1/target-1"
    assert git(guarded.root, "rev-parse", kept).strip() == other
    target = next(f for f in found if f.what == "target")
    assert target.undone and target.blamed == "mover"
    assert "refs/coordinator/quarantine/r1/target-1" in target.message


def test_the_target_moves_only_from_the_recorded_value(guarded: Guarded) -> None:
    expected = guarded.state.expected_target
    new = commit_file(guarded.root, "y.txt", "y\n")
    assert not guarded.state.move_target(new, new, "m", BOT)  # not what we last wrote
    assert guarded.state.move_target(new, expected, "m", BOT)
    assert guarded.state.expected_target == new
    assert {f.what for f in guarded.state.check({}, frozenset())} <= {"user-refs"}


def test_a_look_that_reads_refs_while_the_coordinator_moves_the_target_reads_again(
    guarded: Guarded,
) -> None:
    """Refs are read outside the lock (the loop must not wait for a look): a read made while
    the coordinator's own merge moved the target is taken again, never reported as a
    stranger's move (which would put the target back and undo the merge)."""
    expected = guarded.state.expected_target
    new = commit_file(guarded.root, "w.txt", "w\n")
    git(guarded.root, "update-ref", "refs/heads/main", "HEAD~1")  # the user's branch as it was
    real = guarded.repo.refs_listing
    reads: list[dict[str, str]] = []

    def racing(*namespaces: str) -> str:
        seen = real(*namespaces)  # the target before the merge...
        if not reads:
            assert guarded.state.move_target(new, expected, "merge", BOT)  # ...which lands now
        reads.append(parse_refs(seen))
        return seen

    guarded.repo.refs_listing = racing  # type: ignore[method-assign]
    guarded.live.add("bystander", "worktree")
    found = guarded.state.check({}, frozenset())
    assert len(reads) == 2 and reads[0][TARGET] == expected and reads[1][TARGET] == new
    assert [f for f in found if f.what == "target"] == []
    assert git(guarded.root, "rev-parse", TARGET).strip() == new == guarded.state.expected_target
    assert guarded.state.blame_of("bystander") == []


def test_user_refs_are_reported_once_with_a_command_that_restores_them(guarded: Guarded) -> None:
    before = git(guarded.root, "rev-parse", "main").strip()
    moved = commit_file(guarded.root, "z.txt", "z\n")  # main moves: the user's own branch
    git(guarded.root, "tag", "-d", "v1")
    found = [f for f in guarded.state.check({}, frozenset()) if f.what == "user-refs"]
    assert len(found) == 1 and not found[0].undone
    assert git(guarded.root, "rev-parse", "main").strip() == moved  # not undone
    for command in found[0].commands:  # the commands given work as they are
        subprocess.run(command, shell=True, cwd=guarded.root, env=git_test_env(), check=True)
    assert git(guarded.root, "rev-parse", "main").strip() == before
    assert git(guarded.root, "rev-parse", "v1").strip() == before
    assert [f for f in guarded.state.check({}, frozenset()) if f.what == "user-refs"] == []


def test_ended_task_branches_and_older_coordinator_refs_are_restored(guarded: Guarded) -> None:
    head = git(guarded.root, "rev-parse", "HEAD").strip()
    git(guarded.root, "branch", "coordinator/task/done", head)
    git(guarded.root, "branch", "coordinator/failed/r0/old", head)
    guarded.state.snapshot()
    git(guarded.root, "branch", "-D", "coordinator/task/done", "coordinator/failed/r0/old")
    found = guarded.state.check({"refs/heads/coordinator/task/done": head}, frozenset())
    assert {f.what for f in found} == {"refs"}
    for name in ("coordinator/task/done", "coordinator/failed/r0/old"):
        assert git(guarded.root, "rev-parse", name).strip() == head


def test_a_hooks_directory_swapped_for_a_link_is_undone_without_acting_through_it(
    guarded: Guarded, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "pre-commit").write_text("someone else's file\n")
    hooks = guarded.git_dir / "hooks"
    hooks.rename(tmp_path / "hooks-moved")
    hooks.symlink_to(elsewhere)
    found = guarded.state.check_files()
    assert found and (elsewhere / "pre-commit").read_text() == "someone else's file\n"
    assert hooks.is_dir() and not hooks.is_symlink()
    assert (hooks / "pre-commit").read_text() == "#!/bin/sh\nexit 0\n"
