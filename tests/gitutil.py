"""Real git repositories for tests, shared by every test folder (``from gitutil import ...``).

Git runs with an environment of its own: no inherited ``GIT_*`` variables (a test run from a
git hook would otherwise act on the hook's repository) and no global or system config, so a
developer's ``commit.gpgSign`` or ``init.defaultBranch`` cannot change what a test sees.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

USER_NAME = "Test User"
USER_EMAIL = "test@example.com"


def git_test_env() -> dict[str, str]:
    """``os.environ`` without ``GIT_*``, reading no global or system git config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    return env


def git(
    cwd: Path,
    *args: str,
    input: str | None = None,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> str:
    """``git *args`` in ``cwd``; stdout. Fails with git's stderr in the message.

    ``env`` adds variables (e.g. ``GIT_INDEX_FILE``) on top of the isolated environment.
    """
    proc = subprocess.run(
        ["git", *args], cwd=cwd, input=input, capture_output=True, text=True,
        env={**git_test_env(), **(env or {})}, check=False,
    )  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


def write(root: Path, rel: str, content: str | bytes) -> Path:
    """Write a file (creating directories) without committing it."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def commit_file(root: Path, rel: str, content: str | bytes, message: str | None = None) -> str:
    """Write ``rel``, commit it on the current branch and return the new commit's sha."""
    write(root, rel, content)
    git(root, "add", "--", rel)
    git(root, "commit", "-q", "-m", message or f"write {rel}")
    return head(root)


def commit_on(
    root: Path,
    base: str,
    files: Mapping[str, str],
    message: str = "commit",
    branch: str | None = None,
) -> str:
    """A commit with ``files`` written over ``base``'s tree, made without any checkout.

    It goes through a private index file, so no working tree, index or HEAD changes; with
    ``branch`` the branch is created (or moved) to it. Returns the commit's sha.
    """
    index = {"GIT_INDEX_FILE": str(root / ".git" / f"test-index-{os.getpid()}")}
    git(root, "read-tree", base, env=index)
    if files:
        names = list(files)
        blobs = [git(root, "hash-object", "-w", "--stdin", input=files[n]).strip() for n in names]
        info = "".join(f"100644 {blob}\t{name}\n" for blob, name in zip(blobs, names, strict=True))
        git(root, "update-index", "--index-info", input=info, env=index)
    tree = git(root, "write-tree", env=index).strip()
    Path(index["GIT_INDEX_FILE"]).unlink()
    sha = git(root, "commit-tree", tree, "-p", base, "-m", message).strip()
    if branch:
        git(root, "update-ref", f"refs/heads/{branch}", sha)
    return sha


def head(root: Path, rev: str = "HEAD") -> str:
    return git(root, "rev-parse", "--verify", rev).strip()


def make_repo(tmp_path: Path, name: str = "repo", *, branch: str = "main") -> Path:
    """A fresh repository at ``tmp_path/name`` on ``branch`` with one commit (``README.md``).

    ``user.name``/``user.email`` are set in the repository's own config.
    """
    root = tmp_path / name
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", branch)
    git(root, "config", "user.name", USER_NAME)
    git(root, "config", "user.email", USER_EMAIL)
    commit_file(root, "README.md", "# test repository\n", "initial")
    return root


@dataclass(frozen=True)
class CheckoutState:
    """Everything a user could notice about a checkout: HEAD, index, working tree, bytes."""

    head: str
    symbolic_head: str
    status: str
    unstaged: str
    staged: str
    files: dict[str, bytes]


def checkout_state(root: Path) -> CheckoutState:
    """A snapshot to compare before/after an operation that must not touch this checkout.

    The ``.git`` directory is left out of ``files`` (refs and objects are meant to change);
    the index is covered by ``status`` and ``staged``.
    """
    files = {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }
    return CheckoutState(
        head=git(root, "rev-parse", "HEAD"),
        symbolic_head=git(root, "symbolic-ref", "-q", "HEAD", check=False),
        status=git(root, "status", "--porcelain=v2", "--branch", "--untracked-files=all"),
        unstaged=git(root, "diff", "--binary"),
        staged=git(root, "diff", "--cached", "--binary"),
        files=files,
    )
