"""Git command lines for task clones (``isolation = "clone"`` and ``"sandbox"``): part of the
git door, next to ``gitrepo``.

A clone is a repository of its own in ``worktrees/<id>``: its own refs, config and hooks, and
the main repository's objects borrowed read-only through ``objects/info/alternates``. Git runs
*inside* a clone only while the coordinator makes it, before any agent has touched it. Once an
agent ran there, the clone's config, hooks, index and refs are the agent's, so nothing the
coordinator does afterwards reads them through git:

* its refs are read as files (``coordinator.io.clones``);
* its new objects are copied into the main repository by git running in the *main* repository,
  which sees the clone's object directory as an extra alternate (``GIT_ALTERNATE_OBJECT_
  DIRECTORIES``: objects only, never config) and checks every object it writes (``--strict``);
* its files are staged by git running with the *main* repository's git directory and a private
  index, the clone's directory as the work tree: the main repository's config decides what runs
  (its filters, none of the clone's).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from coordinator.core.refs import branch_ref
from coordinator.io.gitrepo import GitRepo
from coordinator.io.gitrun import run_git

UNPACK_LIMIT = 100  # fewer objects than this are written loose, as `git fetch` does


def init_clone(repo: GitRepo, path: Path, branch: str, commit: str) -> None:
    """A new repository at ``path`` (which must not exist) on a new ``branch`` at ``commit``,
    borrowing ``repo``'s objects, with its files checked out. No template: no hooks, no
    ``info/``; the user's identity is copied, so the agent's commits are the user's as in a
    worktree."""
    run_git(("init", "--quiet", "--template=", "--", str(path)), repo.root)
    objects = Path(os.path.realpath(repo.git_dir / "objects"))
    alternates = path / ".git" / "objects" / "info" / "alternates"
    alternates.parent.mkdir(parents=True, exist_ok=True)
    alternates.write_text(f"{objects}\n", encoding="utf-8")
    for key in ("user.name", "user.email"):
        value = run_git(("config", "--get", key), repo.root, ok=(0, 1)).stdout.strip()
        if value:
            run_git(("config", key, os.fsdecode(value)), path)
    run_git(("update-ref", "-m", "coordinator: task clone", branch_ref(branch), commit, ""), path)
    run_git(("symbolic-ref", "HEAD", branch_ref(branch)), path)
    run_git(("read-tree", "-u", "--reset", "HEAD"), path)


def import_objects(repo: GitRepo, clone_objects: Path, tips: Sequence[str], base: str) -> None:
    """Copy every object reachable from ``tips`` and not from ``base`` out of a clone's object
    directory into ``repo``; fails (``GitError``) on a missing or malformed object."""
    env = {"GIT_ALTERNATE_OBJECT_DIRECTORIES": str(clone_objects)}
    revs = "".join(f"{tip}\n" for tip in tips) + f"^{base}\n"
    args = ("pack-objects", "--revs", "--stdout", "-q")
    pack = run_git(args, repo.root, input=revs.encode(), env=env).stdout
    count = int.from_bytes(pack[8:12], "big") if len(pack) >= 12 else 0
    if count == 0:
        return
    if count < UNPACK_LIMIT:
        run_git(("unpack-objects", "-q", "--strict"), repo.root, input=pack)
    else:
        run_git(("index-pack", "--stdin", "--strict"), repo.root, input=pack)


def stage_tree(
    repo: GitRepo, work_tree: Path, head: str, index: Path, keep_out: Sequence[str] = ()
) -> str:
    """The tree of ``work_tree``'s files as the main repository's git sees them (its
    attributes, filters and ignore rules; the work tree's own ``.gitignore`` files), on top of
    commit ``head``, through the private ``index`` file (removed afterwards). The ``keep_out``
    paths (files the coordinator placed there) are not staged."""
    env = {"GIT_DIR": str(repo.git_dir), "GIT_WORK_TREE": str(work_tree),
           "GIT_INDEX_FILE": str(index)}  # fmt: skip
    config = repo.guard() if repo.guard is not None else ()
    try:
        run_git(("read-tree", head), work_tree, env=env, config=config)
        out = [f":(top,exclude,literal){path}" for path in keep_out]
        run_git(("add", "-A", "--", ":(top)", *out), work_tree, env=env, config=config)
        tree = run_git(("write-tree",), work_tree, env=env, config=config).stdout
        return os.fsdecode(tree.strip())
    finally:
        index.unlink(missing_ok=True)


def changes_and_symlinks(repo: GitRepo, base: str, head: str) -> tuple[list[str], dict[str, str]]:
    """The paths that differ between two commits (as ``GitRepo.changed_files``) and the
    symlinks among them in ``head`` -> their targets (as ``symlinks_in``), from one
    ``diff-tree``: its raw lines carry each path's new mode, so no ``ls-tree`` is needed.

    ``diff-tree`` reads the whole index of the checkout it runs in (10 ms on 100,000 files)
    though comparing two trees needs none of it: it is pointed at an index file that does not
    exist (in a directory nothing creates), which git reads as empty."""
    no_index = {"GIT_INDEX_FILE": str(repo.git_dir / "coordinator" / "no-index" / "index")}
    args = ("diff-tree", "-r", "--no-renames", "-z", base, head)
    out = run_git(args, repo.root, env=no_index).stdout
    fields = out.split(b"\0")
    paths: list[str] = []
    links = {}
    for meta, name in zip(fields[0::2], fields[1::2], strict=False):
        if not meta.startswith(b":"):
            continue
        path = os.fsdecode(name)
        paths.append(path)
        _, mode, _, sha, _ = meta[1:].split(b" ", 4)
        if mode == b"120000":
            links[path] = os.fsdecode(run_git(("cat-file", "blob", sha.decode()), repo.root).stdout)
    return paths, links


def symlinks_in(repo: GitRepo, commit: str, paths: Sequence[str]) -> dict[str, str]:
    """The symlinks among ``paths`` in ``commit``'s tree -> their targets."""
    if not paths:
        return {}
    args = ("ls-tree", "-r", "-z", "--full-tree", commit, "--", *(f":(literal){p}" for p in paths))
    links = {}
    for entry in run_git(args, repo.root).stdout.split(b"\0"):
        meta, _, name = entry.partition(b"\t")
        mode, _, rest = meta.partition(b" ")
        if mode == b"120000":
            sha = rest.split(b" ")[-1].decode()
            blob = run_git(("cat-file", "blob", sha), repo.root).stdout
            links[os.fsdecode(name)] = os.fsdecode(blob)
    return links
