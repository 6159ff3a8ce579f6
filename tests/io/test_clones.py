"""Task clones on real repositories: made, read back without trusting them, and checked."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitutil import git, write

from coordinator.core.config import Identity
from coordinator.errors import InputError
from coordinator.io import gitisolation, sandbox
from coordinator.io.clones import (
    collect_clone,
    is_clone,
    make_clone,
    read_head,
    read_ref,
    refuse_unsafe_links,
    remove_clone,
    tampering,
)
from coordinator.io.gitrepo import GitRepo

BOT = Identity(name="bot", email="bot@example.com")
BRANCH = "coordinator/task/t"
REF = "refs/heads/" + BRANCH


@pytest.fixture
def main(repo: Path) -> Iterator[GitRepo]:
    with GitRepo.discover(repo) as opened:
        yield opened


def _clone(main: GitRepo) -> tuple[Path, str]:
    base = main.rev_parse("main")
    assert base is not None
    path = main.root / "worktrees" / "t"
    path.parent.mkdir()
    make_clone(main, path, BRANCH, base)
    return path, base


def _collect(main: GitRepo, clone: Path, base: str) -> tuple[str, bool, str]:
    check = collect_clone(main, clone=clone, branch=BRANCH, base=base, identity=BOT,
                          message="leftovers", index=main.git_dir / "scratch-index")  # fmt: skip
    return check.head, check.ok, check.reason


def test_a_clone_borrows_objects_and_has_no_hooks(main: GitRepo) -> None:
    clone, base = _clone(main)
    alternates = (clone / ".git" / "objects" / "info" / "alternates").read_text().strip()
    assert alternates == os.path.realpath(main.git_dir / "objects")
    assert not (clone / ".git" / "hooks").exists()
    assert git(clone, "rev-parse", "HEAD").strip() == base == main.rev_parse(REF)
    assert git(clone, "symbolic-ref", "HEAD").strip() == REF
    assert (clone / "README.md").exists() and git(clone, "status", "--porcelain") == ""
    assert git(clone, "config", "user.email").strip() == "test@example.com"
    assert is_clone(clone, main) and not is_clone(main.root, main)


def test_commits_and_leftovers_come_back_and_nothing_of_the_clone_runs(
    main: GitRepo, tmp_path: Path
) -> None:
    clone, base = _clone(main)
    proof = tmp_path / "ran"
    write(clone, "a.txt", "committed\n")
    git(clone, "add", "a.txt")
    git(clone, "commit", "-q", "-m", "agent work")
    agent_commit = git(clone, "rev-parse", "HEAD").strip()
    write(clone, ".gitattributes", "*.txt filter=evil\n")
    write(clone, "b.txt", "left over\n")
    touch = f"touch {shlex.quote(str(proof))}; cat"
    git(clone, "config", "filter.evil.clean", touch)
    git(clone, "config", "core.fsmonitor", touch)
    write(clone, ".git/hooks/post-index-change", f"#!/bin/sh\n{touch}\n").chmod(0o755)
    head, ok, reason = _collect(main, clone, base)
    assert ok, reason
    assert not proof.exists()
    assert main.rev_parse(REF) == head
    assert git(main.root, "rev-parse", f"{head}^").strip() == agent_commit  # history kept
    files = git(main.root, "ls-tree", "-r", "--name-only", head).split()
    assert {"a.txt", "b.txt", ".gitattributes"} <= set(files)
    assert git(main.root, "show", f"{head}:b.txt") == "left over\n"  # not filtered
    assert not (main.git_dir / "scratch-index").exists()


def test_a_reset_branch_in_the_clone_is_not_merged(main: GitRepo) -> None:
    clone, base = _clone(main)
    git(clone, "checkout", "-q", "--orphan", "other")
    git(clone, "rm", "-rq", "--cached", ".")
    write(clone, "x.txt", "x\n")
    git(clone, "add", "x.txt")
    git(clone, "commit", "-q", "-m", "unrelated")
    git(clone, "branch", "-f", BRANCH, "HEAD")
    git(clone, "checkout", "-q", BRANCH)
    _, ok, reason = _collect(main, clone, base)
    assert not ok and "reset" in reason


def test_a_deleted_clone_or_git_dir_leaves_nothing_to_merge(main: GitRepo) -> None:
    clone, base = _clone(main)
    shutil.rmtree(clone / ".git")
    (clone / ".git").write_text(f"gitdir: {main.git_dir}\n")  # pointed at the main repository
    _, ok, reason = _collect(main, clone, base)
    assert not ok and "gone" in reason
    assert main.rev_parse(REF) == base


def test_refs_are_read_as_plain_object_ids_only(tmp_path: Path) -> None:
    git_dir = tmp_path / ".git"
    sha = "a" * 40
    write(tmp_path, ".git/refs/heads/ok", sha + "\n")
    write(tmp_path, ".git/refs/heads/sym", "ref: refs/heads/ok\n")
    write(tmp_path, ".git/packed-refs", f"# pack-refs\n{'b' * 40} refs/heads/packed\n")
    os.symlink("/etc/hostname", git_dir / "refs" / "heads" / "link")
    assert read_ref(git_dir, "refs/heads/ok") == sha
    assert read_ref(git_dir, "refs/heads/packed") == "b" * 40
    for bad in ("refs/heads/sym", "refs/heads/link", "refs/../HEAD", "HEAD", "refs/heads/none"):
        assert read_ref(git_dir, bad) is None, bad
    write(tmp_path, ".git/HEAD", "ref: refs/heads/ok\n")
    assert read_head(git_dir) == ("refs/heads/ok", sha)
    write(tmp_path, ".git/HEAD", "ref: ../../etc/passwd\n")
    assert read_head(git_dir) == (None, None)


def test_tampering_with_the_clone_is_found_and_its_copy_kept(main: GitRepo, tmp_path: Path) -> None:
    base = main.rev_parse("main")
    assert base is not None
    clone = main.root / "worktrees" / "t"
    clone.parent.mkdir()
    made = make_clone(main, clone, BRANCH, base)
    assert tampering(clone, made, tmp_path / "q") == []
    git(clone, "config", "core.hooksPath", "/tmp/elsewhere")
    write(clone, ".git/hooks/pre-commit", "#!/bin/sh\n")
    found = tampering(clone, made, tmp_path / "q")
    assert found == ["config changed", "hooks/pre-commit created"]
    assert b"elsewhere" in (tmp_path / "q" / "config").read_bytes()


def test_symlinks_out_of_the_repository_are_refused(main: GitRepo) -> None:
    clone, base = _clone(main)
    os.symlink("/etc/passwd", clone / "outside")
    os.symlink("../.git/config", clone / "sub-git")
    (clone / "fine").symlink_to("README.md")
    collected = collect_clone(main, clone=clone, branch=BRANCH, base=base, identity=BOT,
                              message="m", index=main.git_dir / "i")  # fmt: skip
    assert collected.ok
    check = refuse_unsafe_links(main, collected, main.changed_files(base, collected.head))
    assert not check.ok
    assert "outside -> /etc/passwd" in check.reason and "fine" not in check.reason
    remove_clone(clone)
    assert not clone.exists() and Path("/etc/passwd").exists()


def test_sandbox_argv_keeps_everything_but_the_task_read_only(tmp_path: Path) -> None:
    task, marker = tmp_path / "task", tmp_path / "markers"
    argv = sandbox.wrap(["agent", "--flag"], task_dir=task, writable=[marker], root=tmp_path)
    assert argv[:3] == ["bwrap", "--ro-bind", "/"] and argv[-3:] == ["--", "agent", "--flag"]
    assert ["--bind", str(task), str(task)] == argv[argv.index("--bind"):][:3]
    assert "--unshare-pid" in argv and "--unshare-net" not in argv
    assert argv[argv.index("--chdir") + 1] == str(task)


def test_missing_bwrap_is_an_input_error_naming_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError) as caught:
        sandbox.require("coordinator.toml")
    assert "bubblewrap" in str(caught.value) and "bwrap" in str(caught.value)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap is not installed (bubblewrap)")
def test_the_sandbox_lets_the_task_write_only_its_directory(tmp_path: Path) -> None:
    task, marker, outside = tmp_path / "task", tmp_path / "m", tmp_path / "outside"
    for d in (task, marker, outside):
        d.mkdir()
    script = ("for p in task/a m/b outside/c /tmp/d; do (echo x > \"$0/$p\" || "
              "echo x > \"$p\") 2>/dev/null && echo \"wrote $p\"; done; echo pids $(ls /proc | "
              "grep -c '^[0-9]')")  # fmt: skip
    argv = sandbox.wrap(["sh", "-c", script, str(tmp_path)], task_dir=task, writable=[marker],
                        root=tmp_path)  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True,
                         start_new_session=True).stdout  # as agents run: its own session
    assert "wrote task/a" in out and "wrote m/b" in out and "wrote /tmp/d" in out
    assert "wrote outside/c" not in out and not (outside / "c").exists()
    assert int(out.split("pids ")[1]) < 10  # its own process namespace


def test_one_diff_tree_gives_the_changed_paths_and_their_symlinks(
    repo: Path, main: GitRepo
) -> None:
    """``changes_and_symlinks`` answers what ``changed_files`` and ``symlinks_in`` do, with
    renames as both paths, a file turned into a link, and a deleted link not counted."""
    write(repo, "old name.txt", "x\n")
    write(repo, "plain.txt", "p\n")
    os.symlink("plain.txt", repo / "gone-link")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "before")
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "mv", "old name.txt", "new name.txt")
    (repo / "plain.txt").unlink()
    os.symlink("/etc/passwd", repo / "plain.txt")
    os.symlink("../.git/config", repo / "odd\nname")
    (repo / "gone-link").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "after")
    changed, links = gitisolation.changes_and_symlinks(main, base, "HEAD")
    assert changed == main.changed_files(base, "HEAD")
    assert sorted(changed) == ["gone-link", "new name.txt", "odd\nname", "old name.txt",
                               "plain.txt"]  # fmt: skip
    assert links == gitisolation.symlinks_in(main, "HEAD", changed)
    assert links == {"plain.txt": "/etc/passwd", "odd\nname": "../.git/config"}
