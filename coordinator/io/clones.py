"""Task clones: made before the agent starts, read back safely after it ends.

``make_clone`` gives a task its own repository at ``worktrees/<id>`` (see
``coordinator.io.gitisolation``) and records the clone's config, hooks and attribute files as
they were made. ``collect_clone`` is ``collect_work`` for a clone, and never runs git with the
clone's configuration: the clone's HEAD and task branch are read as files (a symbolic ref or a
name that leaves ``refs/`` is not followed), their new objects are copied into the main
repository and checked there, and leftover files are staged by the main repository's git. The
work then goes through the same rules as a worktree's (``workcheck.decide``). A change to the
clone's own config, hooks or attributes (``tampering``) is the task's doing, always.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from coordinator.core import shared
from coordinator.core.config import Identity
from coordinator.core.refs import branch_ref, short_name
from coordinator.errors import GitError
from coordinator.io import gitisolation
from coordinator.io.gitrepo import GitRepo
from coordinator.io.shared_state import read_files
from coordinator.io.workcheck import WorkCheck, decide

_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_REF = re.compile(r"refs/[A-Za-z0-9._/-]+")
_MAX_REF_FILE = 4096
_MAX_PACKED_REFS = 64 * 1024 * 1024
Recorded = Mapping[str, tuple[shared.FileState, bytes | None]]


def make_clone(repo: GitRepo, path: Path, branch: str, base: str) -> Recorded:
    """The task's clone at ``path`` on ``branch`` at ``base`` (and ``branch`` in the main
    repository at ``base`` too, where its work lands); returns the clone's guarded files."""
    gitisolation.init_clone(repo, path, branch, base)
    if not repo.update_ref(branch_ref(branch), base, None, message="coordinator: task clone"):
        raise GitError(f"{branch} appeared while its clone was being made")
    return read_files(path / ".git")


def tampering(clone: Path, recorded: Recorded, quarantine: Path) -> list[str]:
    """What changed in the clone's config, hooks and attribute files since ``make_clone``;
    the changed copies are moved to ``quarantine`` (the clone is the agent's: nothing is put
    back, the task just fails)."""
    git_dir = clone / ".git"
    now = read_files(git_dir) if _is_dir(git_dir) else {}
    before = {path: state for path, (state, _) in recorded.items()}
    after = {path: state for path, (state, _) in now.items()}
    changed = shared.file_changes(before, after)
    for path in changed:
        if path in now:
            aside = quarantine / path
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.replace(git_dir / path, aside)
    return [shared.describe_file(p, before.get(p), after.get(p)) for p in changed]


def collect_clone(
    repo: GitRepo, *, clone: Path, branch: str, base: str, identity: Identity, message: str,
    index: Path, keep_out: Sequence[str] = (),
) -> WorkCheck:  # fmt: skip
    """Commit what the (dead) agent left in its clone and decide what the task's work is, as
    ``workcheck.collect_work`` does for a worktree (``index`` is a scratch file; the
    ``keep_out`` paths, placed by the coordinator, are never committed)."""
    ref = branch_ref(branch)
    notes: list[str] = []
    git_dir = clone / ".git"
    if not _is_dir(clone) or not _is_dir(git_dir):
        notes.append(f"the agent deleted its clone {clone} (or its .git directory)")
        left = repo.rev_parse(ref) or base
        return WorkCheck(left, False, "the agent's clone is gone; no work is left", tuple(notes))
    attached, head = read_head(git_dir)
    tip = read_ref(git_dir, ref)
    try:
        gitisolation.import_objects(repo, git_dir / "objects", [t for t in (head, tip) if t], base)
        _sync(repo, ref, tip, notes)
        parent = head if head and repo.rev_parse(head) else base
        if head is None:
            notes.append("the clone's HEAD had no commit; its files were committed on the base")
        tree = gitisolation.stage_tree(repo, clone, parent, index, keep_out)
        work = parent
        if repo.tree_of(parent) != tree:
            work = repo.commit_tree(tree, [parent], message, identity)
    except GitError as exc:
        said = str(exc).strip().splitlines()[-1] if str(exc).strip() else "git failed"
        return WorkCheck(repo.rev_parse(ref) or base, False,
                         f"could not collect the agent's work from its clone: {said}",
                         tuple(notes))  # fmt: skip
    old = repo.rev_parse(ref)
    return decide(repo, ref, base, (work, parent), attached, old, identity, notes, lambda: None)


def refuse_unsafe_links(
    repo: GitRepo, check: WorkCheck, changed: list[str], links: Mapping[str, str] | None = None
) -> WorkCheck:
    """``check``, not to be merged when the work adds a symlink out of the repository or into
    ``.git`` (in any isolation mode: a link is followed by whoever writes through it later).
    ``links``: the symlinks among ``changed`` -> their targets, when known already."""
    if not check.ok:
        return check
    if links is None:
        links = gitisolation.symlinks_in(repo, check.head, changed)
    bad = [f"{path} -> {target}" for path, target in links.items()
           if shared.unsafe_link(path, target)]  # fmt: skip
    if not bad:
        return check
    reason = "a symlink leads out of the repository or into .git: " + ", ".join(bad)
    return dataclasses.replace(check, ok=False, reason=reason)


def _sync(repo: GitRepo, ref: str, tip: str | None, notes: list[str]) -> None:
    """The main repository's task branch takes the value the clone's has (the agent's own
    commits); a branch the agent deleted in its clone is left where it was made."""
    old = repo.rev_parse(ref)
    if tip is None:
        notes.append(f"the agent deleted {short_name(ref)} in its clone")
        return
    if tip != old and not repo.update_ref(ref, tip, old, message="coordinator: from clone"):
        raise GitError(f"{ref} moved while the coordinator was collecting the task's work")


def read_head(git_dir: Path) -> tuple[str | None, str | None]:
    """(the ref HEAD is attached to, the commit it names), read as files; a HEAD that is
    neither a ``refs/`` name nor an object id reads as (None, None)."""
    text = _small_file(git_dir / "HEAD")
    if text is None:
        return None, None
    if text.startswith("ref: "):
        name = text.removeprefix("ref: ").strip()
        if not _valid_ref(name):
            return None, None
        return name, read_ref(git_dir, name)
    return (None, text) if _SHA.fullmatch(text) else (None, None)


def read_ref(git_dir: Path, name: str) -> str | None:
    """The object id ``name`` holds in a clone: its loose file, else ``packed-refs``. A
    symbolic ref, a symlink or anything that is not an object id counts as absent."""
    if not _valid_ref(name):
        return None
    loose = _small_file(git_dir / name)
    if loose is not None:
        return loose if _SHA.fullmatch(loose) else None
    packed = git_dir / "packed-refs"
    if not _regular(packed) or packed.stat().st_size > _MAX_PACKED_REFS:
        return None
    for line in packed.read_text("utf-8", "replace").splitlines():
        sha, _, ref = line.partition(" ")
        if ref == name and _SHA.fullmatch(sha):
            return sha
    return None


def remove_clone(path: Path) -> None:
    """Delete a clone whose work was collected (symlinks inside are removed, never followed)."""
    if os.path.lexists(path):
        if path.is_symlink() or not path.is_dir():
            path.unlink()
        else:
            shutil.rmtree(path)


def is_clone(path: Path, repo: GitRepo) -> bool:
    """Whether ``path`` looks like a task clone of ``repo`` (it borrows ``repo``'s objects)."""
    alternates = path / ".git" / "objects" / "info" / "alternates"
    text = _small_file(alternates) if _is_dir(path / ".git") else None
    return text == os.path.realpath(repo.git_dir / "objects")


def _valid_ref(name: str) -> bool:
    parts = name.split("/")
    return bool(_REF.fullmatch(name)) and ".." not in parts and "." not in parts and "" not in parts


def _small_file(path: Path) -> str | None:
    if not _regular(path) or path.stat().st_size > _MAX_REF_FILE:
        return None
    try:
        return path.read_text("utf-8", "replace").strip()
    except OSError:
        return None


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False
