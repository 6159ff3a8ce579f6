"""Every way git runs a program from its configuration, planted and proved inert.

Each experiment plants a key (or a hook) whose program writes a file, then runs the git
operation that would start it twice: once as plain git (the control: the file appears, so the
experiment does trigger it on this git) and once through the coordinator's git door (the file
never appears). Git is real (2.39 here); nothing is mocked.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shlex
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gitutil import commit_file, git, git_test_env, write

from coordinator.core.config import Identity
from coordinator.io.gitenv import SAFE_CONFIG, git_env
from coordinator.io.gitguard import DriverGuard
from coordinator.io.gitrepo import GitRepo, git_command

BOT = Identity(name="Coord Bot", email="bot@coordinator.test")


@dataclass
class Lab:
    root: Path
    repo: GitRepo
    proof: Path  # planted programs touch files in here

    def program(self, name: str) -> str:
        """A shell command line that leaves ``name`` in ``proof`` (and otherwise acts as cat)."""
        return f"touch {shlex.quote(str(self.proof / name))}; cat"

    def ran(self) -> list[str]:
        return sorted(p.name for p in self.proof.iterdir())

    def hook(self, name: str) -> None:
        path = write(
            self.root, f".git/hooks/{name}", f"#!/bin/sh\n{self.program(name)} </dev/null\n"
        )
        path.chmod(0o755)


@pytest.fixture
def lab(repo: Path, tmp_path: Path) -> Iterator[Lab]:
    proof = tmp_path / "proof"
    proof.mkdir()
    commit_file(repo, "a.txt", "a\n")
    with GitRepo.discover(repo) as opened:
        yield Lab(repo, opened, proof)


def plain(lab: Lab, *args: str, cwd: Path | None = None) -> None:
    """The control: the same operation as plain git, with the repository's config as it is."""
    subprocess.run(["git", *args], cwd=cwd or lab.root, env=git_test_env(), capture_output=True,
                   check=False, start_new_session=True)  # fmt: skip


def hardened(lab: Lab, *args: str, cwd: Path | None = None) -> None:
    """A git command line the coordinator's door would start, with its argv and environment."""
    argv, env = git_command(list(args))
    env = {**env, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    subprocess.run(argv, cwd=cwd or lab.root, env=env, capture_output=True, check=False,
                   start_new_session=True)  # its orphans are reaped after the test


def control_then_door(lab: Lab, expect: str, plain_op: Callable[[], object],
                      door_op: Callable[[], object]) -> None:  # fmt: skip
    plain_op()
    assert expect in lab.ran(), f"control: plain git did not run {expect}; the experiment is void"
    for leftover in lab.proof.iterdir():
        leftover.unlink()
    door_op()
    assert lab.ran() == [], "the coordinator's git ran a planted program"


def _blob_id(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# ---------------------------------------------------------------------------------- hooks
def test_post_checkout_hook_does_not_run_on_worktree_add(lab: Lab) -> None:
    lab.hook("post-checkout")
    control_then_door(
        lab, "post-checkout",
        lambda: plain(lab, "worktree", "add", "-q", "-b", "w1", str(lab.root.parent / "w1")),
        lambda: lab.repo.worktree_add(lab.root.parent / "w2", "w2", "main"),
    )  # fmt: skip


def test_reference_transaction_hook_does_not_run_on_update_ref(lab: Lab) -> None:
    lab.hook("reference-transaction")
    head = lab.repo.rev_parse("main")
    assert head is not None
    control_then_door(
        lab, "reference-transaction",
        lambda: plain(lab, "update-ref", "refs/heads/x", head),
        lambda: lab.repo.update_ref("refs/heads/y", head, None),
    )  # fmt: skip


def test_post_index_change_hook_does_not_run_on_add(lab: Lab) -> None:
    lab.hook("post-index-change")
    write(lab.root, "b.txt", "b\n")
    control_then_door(lab, "post-index-change", lambda: plain(lab, "add", "b.txt"),
                      lambda: lab.repo.stage_all(lab.root))  # fmt: skip


def test_post_merge_and_pre_auto_gc_hooks_do_not_run_on_ff_merge(lab: Lab) -> None:
    lab.hook("post-merge")
    lab.hook("pre-auto-gc")
    git(lab.root, "config", "gc.auto", "1")
    git(lab.root, "config", "gc.autoDetach", "false")  # the control's gc must not outlive it
    # `gc --auto` estimates loose objects from those named 17...: more than one there.
    texts = (t for n in range(100000) if _blob_id(t := f"loose {n}\n").startswith("17"))
    for text in (next(texts), next(texts)):
        git(lab.root, "hash-object", "-w", "--stdin", input=text)
    git(lab.root, "branch", "ahead")
    commit_file(lab.root, "c.txt", "c\n")
    tip = git(lab.root, "rev-parse", "HEAD").strip()
    git(lab.root, "reset", "-q", "--hard", "HEAD~1")
    plain(lab, "merge", "--ff-only", tip)
    assert {"post-merge", "pre-auto-gc"} <= set(lab.ran())
    for leftover in lab.proof.iterdir():
        leftover.unlink()
    git(lab.root, "reset", "-q", "--hard", "HEAD~1")
    lab.repo.merge_ff_only(tip, lab.root)
    assert lab.ran() == []


# ------------------------------------------------------------------------- config programs
def test_fsmonitor_hook_does_not_run_on_status(lab: Lab) -> None:
    script = write(lab.proof.parent, "fsmonitor.sh", f"#!/bin/sh\n{lab.program('fsmonitor')}\n")
    script.chmod(0o755)
    git(lab.root, "config", "core.fsmonitor", str(script))
    control_then_door(lab, "fsmonitor", lambda: plain(lab, "status", "--porcelain"),
                      lambda: lab.repo.status(lab.root))  # fmt: skip


def test_fsmonitor_from_an_included_file_does_not_run(lab: Lab) -> None:
    script = write(lab.proof.parent, "fsmonitor.sh", f"#!/bin/sh\n{lab.program('included')}\n")
    script.chmod(0o755)
    extra = write(lab.proof.parent, "extra.config", f"[core]\n\tfsmonitor = {script}\n")
    git(lab.root, "config", "include.path", str(extra))
    control_then_door(lab, "included", lambda: plain(lab, "status", "--porcelain"),
                      lambda: lab.repo.status(lab.root))  # fmt: skip


@pytest.mark.parametrize("key", ["diff.external", "diff.evil.command", "diff.evil.textconv"])
def test_diff_programs_do_not_run_on_diff(lab: Lab, key: str) -> None:
    write(lab.root, ".gitattributes", "*.txt diff=evil\n")
    base = lab.repo.rev_parse("main")
    tip = commit_file(lab.root, "a.txt", "changed\n")
    git(lab.root, "config", key, lab.program(key))
    assert base is not None
    control_then_door(
        lab,
        key,
        lambda: plain(lab, "diff", base, tip),
        lambda: (lab.repo.diff(base, tip), lab.repo.diffstat(base, tip)),
    )


def test_pager_does_not_run_even_on_a_terminal(lab: Lab) -> None:
    """Git pages only to a terminal: give it one, as a user's shell would."""
    git(lab.root, "config", "core.pager", lab.program("core.pager"))
    git(lab.root, "config", "pager.log", lab.program("pager.log"))

    def on_tty(argv: list[str], env: dict[str, str]) -> None:
        leader, follower = os.openpty()
        try:
            subprocess.run(argv, cwd=lab.root, env=env, stdout=follower, stderr=follower,
                           stdin=subprocess.DEVNULL, check=False, timeout=30,
                           start_new_session=True)  # fmt: skip
        finally:
            os.close(leader)
            os.close(follower)

    argv, env = git_command(["log", "-1"])
    control_then_door(
        lab,
        "pager.log",
        lambda: on_tty(["git", "log", "-1"], git_test_env()),
        lambda: on_tty(argv, {**env, "GIT_CONFIG_GLOBAL": os.devnull}),
    )


@pytest.mark.parametrize("key", ["core.editor", "sequence.editor"])
def test_editors_do_not_run(lab: Lab, key: str) -> None:
    git(lab.root, "config", key, lab.program(key))
    args = ("commit", "--allow-empty") if key == "core.editor" else ("rebase", "-i", "HEAD")
    control_then_door(lab, key, lambda: plain(lab, *args), lambda: hardened(lab, *args))


def test_gpg_program_does_not_run_when_signing_is_configured(lab: Lab) -> None:
    git(lab.root, "config", "gpg.program", str(write(lab.proof.parent, "gpg.sh",
        f"#!/bin/sh\n{lab.program('gpg')} >/dev/null\nexit 1\n")))  # fmt: skip
    os.chmod(lab.proof.parent / "gpg.sh", 0o755)
    git(lab.root, "config", "commit.gpgSign", "true")
    args = ("commit", "--allow-empty", "-m", "x")
    control_then_door(lab, "gpg", lambda: plain(lab, *args), lambda: hardened(lab, *args))
    tree = lab.repo.tree_of("main")
    lab.repo.commit_tree(tree, [], "plumbing commit", BOT)
    assert lab.ran() == []


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="x"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def asks_for_password() -> Iterator[str]:
    """A local HTTP server that answers every request with 401: git asks for credentials."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/x.git"
    finally:
        server.shutdown()
        thread.join()


@pytest.mark.parametrize("key", ["credential.helper", "core.askPass"])
def test_credential_programs_do_not_run(lab: Lab, key: str, asks_for_password: str) -> None:
    value = (
        "!" + lab.program(key)
        if key == "credential.helper"
        else str(
            write(lab.proof.parent, "askpass.sh", f"#!/bin/sh\n{lab.program(key)} </dev/null\n")
        )
    )
    os.chmod(lab.proof.parent / "askpass.sh", 0o755) if key == "core.askPass" else None
    git(lab.root, "config", key, value)
    control_then_door(
        lab,
        key,
        lambda: plain(lab, "ls-remote", asks_for_password),
        lambda: hardened(lab, "ls-remote", asks_for_password),
    )


def test_git_proxy_does_not_run(lab: Lab) -> None:
    script = write(lab.proof.parent, "proxy.sh", f"#!/bin/sh\n{lab.program('proxy')}\n")
    script.chmod(0o755)  # a proxy is started as a program, not through a shell
    git(lab.root, "config", "core.gitProxy", str(script))
    url = "git://127.0.0.1:9/x.git"
    control_then_door(lab, "proxy", lambda: plain(lab, "ls-remote", url),
                      lambda: hardened(lab, "ls-remote", url))


def test_ssh_command_does_not_run(lab: Lab) -> None:
    git(lab.root, "config", "core.sshCommand", lab.program("ssh"))
    url = "ssh://example.invalid/x.git"
    control_then_door(
        lab, "ssh", lambda: plain(lab, "ls-remote", url), lambda: hardened(lab, "ls-remote", url)
    )


def test_alternate_refs_command_does_not_run(lab: Lab, tmp_path: Path) -> None:
    other = tmp_path / "borrower"
    git(tmp_path, "init", "-q", str(other))
    write(other, ".git/objects/info/alternates", str(lab.root / ".git" / "objects") + "\n")
    git(other, "config", "core.alternateRefsCommand", lab.program("alternate-refs"))
    control_then_door(lab, "alternate-refs", lambda: plain(lab, "fetch", "-q", str(lab.root),
                      "main", cwd=other), lambda: hardened(lab, "fetch", "-q", str(lab.root),
                      "main", cwd=other))  # fmt: skip


def test_an_alias_is_never_what_runs(lab: Lab) -> None:
    """Aliases cannot shadow git's own commands, and the coordinator runs nothing else."""
    git(lab.root, "config", "alias.status", "!" + lab.program("alias"))
    lab.repo.status(lab.root)
    hardened(lab, "status")
    assert lab.ran() == []


def test_every_safe_key_is_accepted_by_git(lab: Lab) -> None:
    """A typo in ``SAFE_CONFIG`` would be a key git never reads: ask git for each value."""
    env = {**git_env(), "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    for key, value in SAFE_CONFIG:
        got = subprocess.run(["git", "config", "--get", key], cwd=lab.root, env=env,
                             capture_output=True, text=True, check=False).stdout  # fmt: skip
        assert got.rstrip("\n") == value, key


def test_user_config_count_is_kept(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.name")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "From Env")
    env = git_env()
    assert env["GIT_CONFIG_KEY_0"] == "user.name"
    assert int(env["GIT_CONFIG_COUNT"]) == len(SAFE_CONFIG) + 1


# --------------------------------------------------------------------------------- drivers
def _lfs_like(lab: Lab, name: str) -> None:
    git(lab.root, "config", f"filter.{name}.clean", lab.program(f"{name}-clean"))
    git(lab.root, "config", f"filter.{name}.smudge", lab.program(f"{name}-smudge"))


def test_filters_defined_before_the_run_keep_working_new_ones_do_not(lab: Lab) -> None:
    write(lab.root, ".gitattributes", "*.user filter=mine\n*.agent filter=evil\n")
    _lfs_like(lab, "mine")
    guard = DriverGuard(lab.repo)
    guard.snapshot()
    lab.repo.guard = guard.overrides
    _lfs_like(lab, "evil")  # planted during the run
    git(lab.root, "config", "filter.evil.required", "true")
    write(lab.root, "x.user", "user\n")
    write(lab.root, "x.agent", "agent\n")
    lab.repo.stage_all(lab.root)
    assert lab.ran() == ["mine-clean"]
    assert guard.untrusted() == [("filter", "evil")]


def test_a_changed_user_filter_is_disabled_until_it_is_restored(lab: Lab) -> None:
    write(lab.root, ".gitattributes", "*.user filter=mine\n")
    _lfs_like(lab, "mine")
    guard = DriverGuard(lab.repo)
    guard.snapshot()
    lab.repo.guard = guard.overrides
    original = (lab.root / ".git" / "config").read_bytes()
    git(lab.root, "config", "filter.mine.clean", lab.program("changed"))
    write(lab.root, "x.user", "1\n")
    lab.repo.stage_all(lab.root)
    assert lab.ran() == []
    (lab.root / ".git" / "config").write_bytes(original)
    write(lab.root, "x.user", "22\n")
    lab.repo.stage_all(lab.root)
    assert lab.ran() == ["mine-clean"]


def test_a_process_filter_planted_during_the_run_does_not_start(lab: Lab) -> None:
    write(lab.root, ".gitattributes", "*.txt filter=evil\n")
    guard = DriverGuard(lab.repo)
    guard.snapshot()
    lab.repo.guard = guard.overrides
    git(lab.root, "config", "filter.evil.process", lab.program("process"))
    write(lab.root, "b.txt", "b\n")
    lab.repo.stage_all(lab.root)
    assert lab.ran() == []


def test_merge_driver_planted_during_the_run_does_not_run(lab: Lab) -> None:
    commit_file(lab.root, ".gitattributes", "*.txt merge=evil\n")
    base = git(lab.root, "rev-parse", "HEAD").strip()
    ours = commit_file(lab.root, "a.txt", "ours\n")
    git(lab.root, "reset", "-q", "--hard", base)
    theirs = commit_file(lab.root, "a.txt", "theirs\n")
    guard = DriverGuard(lab.repo)
    guard.snapshot()
    lab.repo.guard = guard.overrides
    git(lab.root, "config", "merge.evil.driver", lab.program("merge-driver"))
    control_then_door(lab, "merge-driver",
                      lambda: plain(lab, "merge-tree", "--write-tree", ours, theirs),
                      lambda: lab.repo.merge_tree(ours, theirs))  # fmt: skip
    assert lab.repo.merge_tree(ours, theirs).conflicts == ("a.txt",)


def test_a_worktree_config_driver_is_seen(lab: Lab) -> None:
    """``extensions.worktreeConfig`` lets a worktree carry its own config (sparse checkouts
    turn it on): a driver defined only there is disabled too."""
    git(lab.root, "config", "extensions.worktreeConfig", "true")
    wt = lab.root.parent / "wt"
    lab.repo.worktree_add(wt, "t", "main")
    guard = DriverGuard(lab.repo)
    guard.snapshot()
    lab.repo.guard = guard.overrides
    write(wt, ".gitattributes", "*.txt filter=evil\n")
    git(wt, "config", "--worktree", "filter.evil.clean", lab.program("worktree-filter"))
    write(wt, "n.txt", "n\n")
    lab.repo.stage_all(wt)
    assert lab.ran() == []


def test_guard_reads_config_only_when_a_file_changed(lab: Lab) -> None:
    guard = DriverGuard(lab.repo)
    guard.snapshot()
    calls = 0
    real = lab.repo.config_entries

    def counting(file: Path | None = None) -> list[tuple[str, str, str]]:
        nonlocal calls
        calls += 1
        return real(file)

    lab.repo.config_entries = counting  # type: ignore[method-assign]
    for _ in range(5):
        guard.overrides()
    assert calls == 0
    git(lab.root, "config", "filter.late.clean", "x")
    assert guard.overrides() == (
        ("filter.late.clean", ""),
        ("filter.late.smudge", ""),
        ("filter.late.process", ""),
        ("filter.late.required", "false"),
    )
    assert calls >= 1


def test_worktrees_are_looked_at_only_while_git_reads_their_config(lab: Lab) -> None:
    """Without ``extensions.worktreeConfig`` git never reads a worktree's own config, so the
    check before each command does not stat every worktree; turning it on is seen at once."""
    wt = lab.root.parent / "wt"
    lab.repo.worktree_add(wt, "t", "main")
    guard = DriverGuard(lab.repo)
    write(lab.root, ".git/worktrees/wt/config.worktree", "[core]\n\tbare = false\n")
    guard.snapshot()
    lab.repo.guard = guard.overrides
    assert guard._worktree_configs() == {}  # git would not read it
    git(lab.root, "config", "extensions.worktreeConfig", "true")
    git(wt, "config", "--worktree", "filter.evil.clean", lab.program("worktree-filter"))
    assert ("filter.evil.clean", "") in guard.overrides()
    assert guard._worktree_configs() != {}
    write(wt, ".gitattributes", "*.txt filter=evil\n")
    write(wt, "n.txt", "n\n")
    lab.repo.stage_all(wt)
    assert lab.ran() == []


def test_a_worktree_config_that_cannot_be_read_does_not_stop_the_guard(lab: Lab) -> None:
    """A worktree removed between the guard's scan and its read (the pool takes worktrees away
    while other tasks run git), or a config.worktree git cannot parse, is skipped: the run's
    git commands go on, and a driver defined in a readable one is still disabled."""
    git(lab.root, "config", "extensions.worktreeConfig", "true")
    wt = lab.root.parent / "wt"
    lab.repo.worktree_add(wt, "t", "main")
    guard = DriverGuard(lab.repo)
    guard.snapshot()
    broken = lab.root / ".git/worktrees/wt/config.worktree"
    write(lab.root, ".git/worktrees/wt/config.worktree", "[not closed\n")
    assert guard.overrides() == ()
    broken.unlink()
    git(lab.root, "config", "filter.late.clean", lab.program("late-filter"))
    assert ("filter.late.clean", "") in guard.overrides()
