"""GitRepo against real repositories in tmp_path; git is never mocked."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest
from gitutil import commit_file, git, head, write

from coordinator.core.config import Identity
from coordinator.errors import GitError, InputError
from coordinator.io.gitdata import parse_trailers
from coordinator.io.gitenv import git_env
from coordinator.io.gitrepo import GitRepo

BOT = Identity(name="Coord Bot", email="bot@coordinator.test")


def branch_with(root: Path, name: str, rel: str, content: str, base: str = "main") -> str:
    """A commit on a new branch ``name`` (off ``base``) without leaving the current branch."""
    git(root, "switch", "-q", "-c", name, base)
    sha = commit_file(root, rel, content)
    git(root, "switch", "-q", "-")
    return sha


# ----------------------------------------------------------------------------- discovery
def test_discover_from_subdirectory(repo: Path) -> None:
    sub = repo / "a" / "b"
    sub.mkdir(parents=True)
    with GitRepo.discover(sub) as found:
        assert found.root == repo.resolve()
        assert found.git_dir == (repo / ".git").resolve()


def test_discover_from_linked_worktree_gives_main_root_and_common_git_dir(repo: Path) -> None:
    linked = repo.parent / "linked"
    git(repo, "worktree", "add", "-q", "-b", "side", str(linked))
    (linked / "deep").mkdir()
    with GitRepo.discover(linked / "deep") as found:
        assert found.root == repo.resolve()
        assert found.git_dir == (repo / ".git").resolve()


def test_not_a_repository_is_an_input_error(tmp_path: Path, isolated_git: None) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(InputError) as caught:
        GitRepo.discover(plain)
    assert str(caught.value) == (
        f"{plain}: not a git repository "
        "(run coordinator inside a git repository, or `git init` first)"
    )


def test_close_is_idempotent_and_ends_the_readers(repo: Path) -> None:
    found = GitRepo.discover(repo)
    with found:
        reader = found.reader()
        assert reader.resolve("HEAD") == head(repo)
    found.close()
    children = [p for p in psutil.Process().children(recursive=True) if p.name() == "git"]
    assert children == []


def test_inherited_git_env_from_a_hook_is_ignored(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A git hook exports these; they must not redirect the coordinator's commands."""
    monkeypatch.setenv("GIT_DIR", "/nonexistent/.git")
    monkeypatch.setenv("GIT_WORK_TREE", "/nonexistent")
    monkeypatch.setenv("GIT_INDEX_FILE", "/nonexistent/index")
    monkeypatch.setenv("GIT_COMMON_DIR", "/nonexistent/common")
    monkeypatch.setenv("GIT_OBJECT_DIRECTORY", "/nonexistent/objects")
    with GitRepo.discover(repo) as found:
        assert found.root == repo.resolve()
        assert found.git_dir == (repo / ".git").resolve()
        assert found.rev_parse("HEAD") == head(repo)
        assert found.tracked_files() == ["README.md"]
        write(repo, "new.txt", "x\n")
        tree = found.stage_all(repo)
        sha = found.commit_tree(tree, [head(repo)], "via hook env", BOT)
        assert found.update_ref("refs/heads/main", sha, head(repo))
    assert git(repo, "log", "-1", "--format=%s") == "via hook env\n"


def test_git_env_drops_hook_variables_and_keeps_user_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in ("GIT_DIR", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_CONFIG_PARAMETERS"):
        monkeypatch.setenv(key, "x")
    for key in ("GIT_CONFIG_GLOBAL", "GIT_SSH_COMMAND", "GIT_CONFIG_KEY_0", "GIT_TRACE"):
        monkeypatch.setenv(key, "kept")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")  # the user's command-line config comes first
    env = git_env({"GIT_AUTHOR_NAME": "me"})
    assert not {"GIT_DIR", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_CONFIG_PARAMETERS"} & set(env)
    assert env["GIT_CONFIG_GLOBAL"] == env["GIT_CONFIG_KEY_0"] == env["GIT_TRACE"] == "kept"
    assert env["GIT_AUTHOR_NAME"] == "me"
    assert env["GIT_TERMINAL_PROMPT"] == "0"


def test_missing_path_is_an_input_error(tmp_path: Path, isolated_git: None) -> None:
    with pytest.raises(InputError, match="no such directory"):
        GitRepo.discover(tmp_path / "missing")


def test_no_git_process_outlives_the_repository(repo: Path) -> None:
    """GitPython's cat-file helpers must not pile up in a long-running daemon."""
    with GitRepo.discover(repo) as found:
        found.tracked_files()
        found.first_parent_log("refs/heads/main")
    children = [p for p in psutil.Process().children(recursive=True) if p.name() == "git"]
    assert children == []


def test_git_error_names_command_code_and_stderr(grepo: GitRepo) -> None:
    with pytest.raises(GitError) as caught:
        grepo.subject_of("no-such-rev")
    text = str(caught.value)
    assert "`git log -1 --no-color" in text and "--end-of-options no-such-rev --`" in text
    assert "exit code 128" in text
    assert "fatal: bad revision 'no-such-rev'" in text


# ------------------------------------------------------------------------- refs, files
def test_rev_parse_head_branch_and_tracked_files(repo: Path, grepo: GitRepo) -> None:
    assert grepo.rev_parse("HEAD") == head(repo)
    assert grepo.rev_parse("nope") is None
    assert grepo.head_branch() == "main"
    commit_file(repo, "dir/with space.txt", "1")
    commit_file(repo, "odd\nname", "2")
    assert grepo.tracked_files() == ["README.md", "dir/with space.txt", "odd\nname"]
    git(repo, "switch", "-q", "--detach")
    assert grepo.head_branch() is None


def test_tracked_files_of_an_unborn_repository_is_empty(tmp_path: Path, isolated_git: None) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    with GitRepo.discover(root) as found:
        assert found.tracked_files() == []
        assert found.rev_parse("HEAD") is None
        assert found.head_branch() == "main"


def test_branches_create_rename_delete_list(repo: Path, grepo: GitRepo) -> None:
    sha = head(repo)
    grepo.create_branch("coordinator/task/a", sha)
    with pytest.raises(GitError):
        grepo.create_branch("coordinator/task/a", sha)
    assert grepo.branch_exists("coordinator/task/a")
    grepo.rename_branch("coordinator/task/a", "coordinator/old/a")
    assert grepo.list_branches("coordinator/") == {"coordinator/old/a": sha}
    grepo.delete_branch("coordinator/old/a")
    assert not grepo.branch_exists("coordinator/old/a")
    assert grepo.list_branches("") == {"main": sha}


def test_update_ref_is_compare_and_swap(repo: Path, grepo: GitRepo) -> None:
    first = head(repo)
    second = commit_file(repo, "f", "2")
    ref = "refs/heads/target"
    assert grepo.update_ref(ref, first, None)
    assert not grepo.update_ref(ref, second, None)  # exists already
    assert not grepo.update_ref(ref, second, second)  # holds first, not second
    assert grepo.rev_parse(ref) == first
    assert grepo.update_ref(ref, second, first)
    assert grepo.rev_parse(ref) == second
    with pytest.raises(ValueError, match="full ref name"):
        grepo.update_ref("target", first, second)
    with pytest.raises(GitError):  # a real failure is not reported as "moved"
        grepo.update_ref(ref, "0" * 39 + "1", second)


def test_is_ancestor(repo: Path, grepo: GitRepo) -> None:
    first = head(repo)
    second = commit_file(repo, "f", "2")
    assert grepo.is_ancestor(first, second)
    assert not grepo.is_ancestor(second, first)


def test_changed_files_counts_both_sides_of_a_rename(repo: Path, grepo: GitRepo) -> None:
    base = commit_file(repo, "old name.txt", "same content\n" * 20)
    git(repo, "mv", "old name.txt", "new name.txt")
    write(repo, "other.txt", "x")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "rename")
    assert grepo.changed_files(base, "HEAD") == ["new name.txt", "old name.txt", "other.txt"]


# ------------------------------------------------------------------------------ commits
def test_commits_run_no_hooks_and_never_sign(repo: Path, grepo: GitRepo) -> None:
    hooks = repo / ".git" / "hooks"
    for name in ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit"):
        hook = hooks / name
        hook.write_text(f"#!/bin/sh\necho {name} >> '{repo.parent / 'ran'}'\nexit 1\n")
        hook.chmod(0o755)
    git(repo, "config", "commit.gpgSign", "true")
    git(repo, "config", "gpg.program", "false")  # any signing attempt would fail
    write(repo, "x.txt", "x")
    tree = grepo.stage_all(repo)
    sha = grepo.commit_tree(tree, [head(repo)], "quiet", BOT)
    assert git(repo, "log", "-1", "--format=%an|%B", sha) == "Coord Bot|quiet\n\n"
    assert not (repo.parent / "ran").exists()


def test_stage_all_keeps_placed_paths_out_ignored_or_not(repo: Path, grepo: GitRepo) -> None:
    write(repo, ".gitignore", ".env\nnode_modules\n")
    write(repo, ".env", "SECRET=1\n")  # ignored: naming it in an exclude pathspec fails git add
    write(repo, "notes.env", "placed, not ignored\n")
    (repo / "node_modules").symlink_to(repo.parent)
    write(repo, "work.txt", "the agent's\n")
    tree = grepo.stage_all(repo, keep_out=[".env", "notes.env", "node_modules", "gone.txt"])
    assert git(repo, "ls-tree", "--name-only", tree).split() == [
        ".gitignore", "README.md", "work.txt"
    ]  # fmt: skip


def test_stage_all_in_a_linked_worktree_stages_there(repo: Path, grepo: GitRepo) -> None:
    linked = repo.parent / "wt"
    grepo.worktree_add(linked, "coordinator/task/a", head(repo))
    write(linked, "a.txt", "a")
    tree = grepo.stage_all(linked)
    assert git(repo, "ls-tree", "--name-only", tree).split() == ["README.md", "a.txt"]
    assert git(repo, "status", "--porcelain") == ""
    dirs = grepo.worktree_dirs(linked)
    assert dirs is not None
    assert dirs[0] == linked.resolve() and dirs[1] == (repo / ".git").resolve()
    assert grepo.attached_ref(linked) == "refs/heads/coordinator/task/a"
    grepo.detach_head(linked, "test")
    assert grepo.attached_ref(linked) is None
    assert grepo.worktree_dirs(repo.parent) is None


def test_merge_tree_clean_and_conflicting(repo: Path, grepo: GitRepo) -> None:
    commit_file(repo, "shared.txt", "one\ntwo\nthree\n")
    left = branch_with(repo, "left", "shared.txt", "one\nLEFT\nthree\n")
    right = branch_with(repo, "right", "shared.txt", "one\nRIGHT\nthree\n")
    other = branch_with(repo, "other", "elsewhere.txt", "x\n")
    clean = grepo.merge_tree(left, other)
    assert clean.conflicts == ()
    assert clean.tree is not None
    listing = git(repo, "ls-tree", "--name-only", clean.tree).split()
    assert listing == ["README.md", "elsewhere.txt", "shared.txt"]
    conflict = grepo.merge_tree(left, right)
    assert conflict.tree is None
    assert conflict.conflicts == ("shared.txt",)
    assert git(repo, "status", "--porcelain") == ""


def test_commit_tree_keeps_two_parents_even_when_equal(repo: Path, grepo: GitRepo) -> None:
    base = head(repo)
    side = branch_with(repo, "side", "s.txt", "s")
    tree = git(repo, "rev-parse", f"{base}^{{tree}}").strip()
    merge = grepo.commit_tree(tree, [base, side], "merge\n\nKey: value", BOT)
    assert (
        git(repo, "log", "-1", "--format=%P|%an|%B", merge)
        == f"{base} {side}|Coord Bot|merge\n\nKey: value\n\n"
    )
    same = grepo.commit_tree(tree, [base, base], "no-change merge", BOT)
    assert git(repo, "log", "-1", "--format=%P|%cn|%T", same) == f"{base} {base}|Coord Bot|{tree}\n"
    git(repo, "fsck", "--strict", "--no-dangling")


def test_first_parent_log_and_trailers(repo: Path, grepo: GitRepo) -> None:
    base = head(repo)
    side = branch_with(repo, "side", "s.txt", "s")
    tree = git(repo, "rev-parse", f"{side}^{{tree}}").strip()
    message = "Merge task a: title\n\nBody line.\n\nCoordinator-Task: a\nCoordinator-Run: r1\n"
    merge = grepo.commit_tree(tree, [base, side], message, BOT)
    assert grepo.update_ref("refs/heads/main", merge, base)
    log = grepo.first_parent_log("refs/heads/main")
    assert [c.sha for c in log] == [merge, base]
    top = log[0]
    assert top.parents == (base, side)
    assert top.subject == "Merge task a: title"
    assert top.trailers == {"Coordinator-Task": "a", "Coordinator-Run": "r1"}
    assert top.body.startswith("Body line.")
    assert top.committed_at > 0
    assert grepo.first_parent_log("refs/heads/main", stop_at=base) == log[:1]
    assert grepo.first_parent_log("refs/heads/main", merges_only=True) == log[:1]
    assert grepo.first_parent_log("refs/heads/missing") == []
    assert "s.txt" in grepo.diffstat(base, merge)
    assert "+s" in grepo.diff(base, merge)


def test_parse_trailers_unfolded_lines() -> None:
    assert parse_trailers("A-B: 1\nNot a trailer line\nC: x: y\n") == {"A-B": "1", "C": "x: y"}


# ---------------------------------------------------------------------------- worktrees
def test_worktree_add_list_remove(repo: Path, grepo: GitRepo) -> None:
    sha = head(repo)
    path = repo.parent / "wt one"
    grepo.worktree_add(path, "coordinator/task/one", sha)
    with pytest.raises(GitError):
        grepo.worktree_add(repo.parent / "wt two", "coordinator/task/one", sha)
    listed = grepo.worktree_list()
    assert [w.path for w in listed] == [repo.resolve(), path.resolve()]
    assert listed[0].branch == "main"
    assert (listed[1].branch, listed[1].head) == ("coordinator/task/one", sha)
    grepo.worktree_remove(path)
    assert not path.exists()
    grepo.worktree_add_detached(path, sha)
    assert (path / "README.md").exists()
    write(path, "dirty.txt", "x")
    with pytest.raises(GitError):
        grepo.worktree_remove(path)
    grepo.worktree_remove(path, force=True)
    grepo.worktree_add(repo.parent / "bare-wt", "nocheckout", sha, no_checkout=True)
    assert not (repo.parent / "bare-wt" / "README.md").exists()


def test_worktree_prune_forgets_missing_directories(repo: Path, grepo: GitRepo) -> None:
    path = repo.parent / "gone"
    grepo.worktree_add(path, "gone", head(repo))
    git(repo, "worktree", "list")  # registered
    for child in sorted(path.rglob("*"), reverse=True):
        child.unlink() if child.is_file() else child.rmdir()
    path.rmdir()
    assert grepo.worktree_list()[1].prunable
    grepo.worktree_prune()
    assert [w.path for w in grepo.worktree_list()] == [repo.resolve()]
    assert not os.path.exists(path)


def test_worktree_facts_in_one_command_or_dirs_alone(repo: Path, grepo: GitRepo) -> None:
    sha = head(repo)
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    linked = repo.parent / "wt"
    grepo.worktree_add(linked, "coordinator/task/a", sha)
    found = grepo.worktree_facts(linked, "refs/heads/coordinator/task/a")
    assert found is not None
    dirs, facts = found
    assert dirs == grepo.worktree_dirs(linked)
    assert facts == (sha, tree, "refs/heads/coordinator/task/a", sha)
    git(linked, "switch", "-q", "--detach")
    assert grepo.worktree_facts(linked, "refs/heads/main") == (dirs, (sha, tree, None, sha))
    assert grepo.worktree_facts(linked, "refs/heads/missing") == (dirs, None)
    git(linked, "switch", "-q", "--orphan", "unborn")
    assert grepo.worktree_facts(linked, "refs/heads/main") == (dirs, None)
    assert grepo.worktree_facts(repo.parent, "refs/heads/main") is None
