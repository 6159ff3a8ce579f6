"""Git's worktree and checkout commands, as a part of the git door (``GitRepo`` inherits them).

Kept apart from ``gitrepo`` only for size: the command lines are still built here, inside the
door, and run through ``GitRepo._git``/``_git_raw`` with the same options and environment.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from coordinator.errors import GitError
from coordinator.io import gitdata
from coordinator.io.gitdata import WorktreeInfo
from coordinator.io.processes import ProcessResult

WORKTREE_LIST = ("worktree", "list", "--porcelain", "-z")
# Given to every command that scans or rewrites a task worktree's index, so a large tree is read
# and written as git supports best, whatever the user's config says (see "Large repositories" in
# the README): the untracked cache lets a scan skip directories whose stat data (mtime, and ctime,
# which no agent can set back) did not change; preload and threads read stat data and the index
# in parallel. No fsmonitor: a hook is a command from config, and the builtin daemon is a
# background process per worktree (and unsupported on Linux in the git versions we target).
# The untracked cache is kept for one set of flags, the ones ``status.showUntrackedFiles``
# names: pinned here to what the scans ask for (``-unormal``), so a config an agent writes cannot
# make every scan throw the cache away. A split index's old shared files go when a new one is
# written (the default keeps each, a copy of the whole index, for two weeks).
INDEX_OPTIONS = ("-c", "core.untrackedCache=true", "-c", "core.preloadIndex=true",
                 "-c", "index.threads=true", "-c", "core.trustctime=true",
                 "-c", "core.checkStat=default", "-c", "core.fsmonitor=false",
                 "-c", "status.showUntrackedFiles=normal",
                 "-c", "splitIndex.sharedIndexExpire=now")  # fmt: skip
# A new worktree's index: version 4 stores each path as a suffix of the one before, so the
# index of a 100,000-file tree is a fraction of the size every later command reads and hashes.
NEW_INDEX_OPTIONS = (*INDEX_OPTIONS, "-c", "index.version=4")
# A task worktree whose index is at least this large (about 30,000 paths) gets a split index:
# the entries are written once to a shared file beside it, and each later command that changes
# a few entries writes only those (writing and hashing 7 MB cost 22 ms per command on 100,000
# files). Its work is also collected from one ``status`` that the untracked cache answers (see
# ``stage_all``). Smaller ones stay as they are: one process fewer matters more there.
LARGE_INDEX_BYTES = 2 << 20


class WorktreeCommands:
    """Worktrees, sparse checkouts, status and HEAD of a checkout."""

    root: Path
    git_dir: Path
    _serial: threading.RLock  # GitRepo's: worktree commands run one at a time

    def _git_raw(
        self, *args: str, cwd: Path | None = None, input: str | bytes | None = None,
        env: Mapping[str, str] | None = None, ok: Sequence[int] | None = (0,),
    ) -> ProcessResult:  # fmt: skip
        raise NotImplementedError  # GitRepo's

    def _git(
        self, *args: str, cwd: Path | None = None, input: str | None = None,
        env: Mapping[str, str] | None = None, check: bool = True,
    ) -> str:  # fmt: skip
        raise NotImplementedError  # GitRepo's

    def worktree_list(self) -> list[WorktreeInfo]:
        """Every worktree git knows, the main working tree first."""
        return gitdata.parse_worktrees(self._git_raw(*WORKTREE_LIST).stdout)

    def checked_out_at(self, branch: str) -> Path | None:
        """Where ``branch`` (a short name) is checked out, None when nowhere: the ``HEAD`` file
        of the main working tree and of each linked one, read as ``worktree list`` reads them,
        without starting git (the merge lane asks before every merge)."""
        wanted = f"ref: refs/heads/{branch}"
        admins: list[tuple[Path, Path | None]] = [(self.git_dir, self.root)]
        with contextlib.suppress(OSError):
            admins += [(d, None) for d in sorted((self.git_dir / "worktrees").iterdir())]
        for admin, known in admins:
            try:
                head = (admin / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
                if head == wanted:
                    return known or Path(os.fsdecode((admin / "gitdir").read_bytes())).parent
            except OSError:
                continue  # a worktree being made or removed: no HEAD (or place) yet
        return None

    def worktree_add(
        self, path: Path, branch: str, commit: str, *, no_checkout: bool = False
    ) -> None:
        """A worktree at ``path`` on a NEW branch at ``commit``; fails if the branch exists.

        An existing branch is never reused: the engine renames it out of the way first. The
        files are written by a second command (what ``worktree add`` runs itself, a ``reset
        --hard``): worktree commands run one at a time (``_SERIAL_COMMANDS``), and writing
        every file of a large tree must not hold up another task's worktree going back to the
        pool, which asks git about its worktree first.
        """
        self._git(*NEW_INDEX_OPTIONS, "worktree", "add", "--quiet", "--no-track", "--no-checkout",
                  "-b", branch, "--", str(path), commit)  # fmt: skip
        if not no_checkout:
            self._git(*NEW_INDEX_OPTIONS, "read-tree", "-u", "--reset", "HEAD", cwd=path)
            if large_git_dir(path) is not None:
                self._git(*INDEX_OPTIONS, "update-index", "--split-index", cwd=path)

    def worktree_add_reset(self, path: Path, branch: str, commit: str) -> None:
        """A worktree at ``path`` on ``branch`` set to ``commit`` whether or not it exists: on a
        Ray node's fresh clone, one command instead of a look, a delete and an add."""
        self._git(*NEW_INDEX_OPTIONS, "worktree", "add", "--quiet", "--no-track", "-B", branch,
                  "--", str(path), commit)  # fmt: skip

    def worktree_remove(self, path: Path, *, force: bool = False) -> None:
        """Without ``force`` git refuses when the worktree has changes or untracked files."""
        self._git("worktree", "remove", *(["--force"] if force else []), "--", str(path))

    def worktree_move(self, path: Path, new_path: Path) -> None:
        """``git worktree move``, or what it does, without its cost, where that is plainly safe.

        git reads the worktree's whole index first (to refuse one with submodules: 13 ms on
        100,000 files, on every pooled task's start), then renames the directory and writes
        the new place into the worktree's ``gitdir`` file. Where the checks it makes hold
        without that read (no ``modules`` in its git dir and no ``.gitmodules`` in it, not
        locked, its two links agreeing, nothing at ``new_path`` nor registered there), the
        same rename and write are done here, serialized with git's worktree commands."""
        with self._serial:
            if not self._plain_move(path, new_path):
                self._git("worktree", "move", "--", str(path), str(new_path))

    def _plain_move(self, path: Path, new_path: Path) -> bool:
        admin, top = own_git_dir(path), self.git_dir / "worktrees"
        src, dst = os.path.realpath(path), os.path.realpath(new_path)
        if (admin is None or not admin.is_dir() or admin.parent.resolve() != top.resolve()
                or any(os.path.lexists(p) for p in (admin / "locked", admin / "modules",
                                                    path / ".gitmodules", new_path))
                or not new_path.parent.is_dir() or path.is_symlink()):  # fmt: skip
            return False
        links: dict[Path, bytes] = {}
        for entry in top.iterdir():
            with contextlib.suppress(OSError):
                links[entry.resolve()] = (entry / "gitdir").read_bytes().rstrip(b"\n")
        wanted = os.fsencode(dst) + b"/.git"
        if links.get(admin.resolve()) != os.fsencode(src) + b"/.git" or wanted in links.values():
            return False
        try:
            os.rename(path, new_path)
        except OSError:
            return False  # git says why
        temporary = admin / "gitdir.coordinator-tmp"
        try:
            temporary.write_bytes(wanted + b"\n")
            os.replace(temporary, admin / "gitdir")
        except OSError as exc:
            os.rename(new_path, path)
            raise GitError(f"could not move worktree {path} to {new_path}: {exc}") from exc
        return True

    def worktree_prune(self) -> None:
        """Forget registrations whose directories are gone (locked ones are kept)."""
        self._git("worktree", "prune")

    def worktree_add_detached(self, path: Path, commit: str) -> None:
        """A scratch worktree at ``path`` with ``commit`` checked out and no branch."""
        self._git("worktree", "add", "--detach", "--quiet", "--", str(path), commit)

    def merge_no_commit(self, rev: str, cwd: Path, *, attributes: Path | None = None) -> bool:
        """Merge ``rev`` into the branch checked out at ``cwd`` and stop before committing, so
        conflicts stay in the files (with markers) and the index; False: it conflicted."""
        extra = ("-c", f"core.attributesFile={attributes}") if attributes is not None else ()
        args = (*extra, "merge", "--no-commit", "--no-ff", "--quiet", "--no-edit", rev)
        return self._git_raw(*args, cwd=cwd, ok=(0, 1)).returncode == 0

    def sparse_checkout(self, worktree: Path, patterns: Sequence[str]) -> None:
        """Check out only ``patterns`` (gitignore-style) in a ``--no-checkout`` worktree."""
        self._git("sparse-checkout", "set", "--no-cone", "--", *patterns, cwd=worktree)
        self._git(*INDEX_OPTIONS, "read-tree", "-mu", "HEAD", cwd=worktree)

    def enable_worktree_config(self) -> None:
        """Set ``extensions.worktreeConfig``, which ``sparse-checkout`` would otherwise write
        to the shared config the first time (before a run records it as it is)."""
        if self._git("config", "--get", "extensions.worktreeConfig", check=False).strip() != "true":
            self._git("config", "extensions.worktreeConfig", "true")

    def worktree_dirs(self, worktree: Path) -> tuple[Path, Path, Path] | None:
        """``worktree``'s top level, common git dir and own git dir, or None when git does not
        see a worktree there."""
        args = ("--path-format=absolute", "--show-toplevel", "--git-common-dir", "--git-dir")
        proc = self._git_raw("rev-parse", *args, cwd=worktree, ok=None)
        lines = [Path(line) for line in os.fsdecode(proc.stdout).splitlines()]
        return (lines[0], lines[1], lines[2]) if proc.returncode == 0 and len(lines) == 3 else None

    def status(self, cwd: Path, *, untracked: str = "normal", v2: bool = False,
               submodules: bool = False, ignored: bool = False,
               write: bool = False, index: Path | None = None) -> bytes:  # fmt: skip
        """``status --porcelain[=v2] -z`` of the checkout at ``cwd``; ``submodules`` reports
        changes inside submodules whatever the config says, ``ignored`` lists ignored files
        (``!!``) too. ``write``: it may rewrite the index (only ever a task worktree's, with no
        agent in it) to keep refreshed stat data and the untracked cache it built, which is
        how the next scan there skips the directories that did not change; every other
        ``status`` runs with ``GIT_OPTIONAL_LOCKS=0`` (``gitenv``). ``index``: a private copy
        of the checkout's index to use and keep up to date instead (``guardindex``); never
        split, and the untracked cache serves ``all`` too. Raises when status fails."""
        private = ("-c", f"status.showUntrackedFiles={untracked}", "-c", "core.splitIndex=false")
        args = [*INDEX_OPTIONS, *(private if index else ()), "status",
                "--porcelain=v2" if v2 else "--porcelain", "-z",
                f"--untracked-files={untracked}"]  # fmt: skip
        args += ["--ignore-submodules=none"] if submodules else []
        args += ["--ignored"] if ignored else []
        env = {"GIT_OPTIONAL_LOCKS": "1"} if write or index else {}
        if index:
            env["GIT_INDEX_FILE"] = str(index)
        return self._git_raw(*args, cwd=cwd, env=env or None).stdout

    def stage_all(self, worktree: Path, *, keep_out: Sequence[str] = (),
                  listed: bool = False) -> str:  # fmt: skip
        """Stage everything in ``worktree`` (sparse entries included, ``keep_out`` paths not:
        unstaged after, since an exclude pathspec naming an ignored file, as a copied ``.env``
        usually is, makes ``git add`` fail) and return the tree id.

        ``listed`` (a large index): ``git add -A`` walks every directory itself (it never uses
        the untracked cache), so instead one ``status`` lists what differs, answered from the
        cache the take's ``status`` wrote for directories whose stat data (ctime included) did
        not change, and ``add -A`` is given exactly those paths (an untracked directory as
        itself: ``add`` walks only it). Same result: status lists every path whose file
        differs from the index, every untracked one and every unmerged one, which is all that
        ``add -A`` changes; what is staged already needs nothing."""
        if not listed:
            self._git(*INDEX_OPTIONS, "add", "-A", "--sparse", "--", ":(top)", cwd=worktree)
        elif paths := to_stage(self._git_raw(*INDEX_OPTIONS, "status", "--porcelain", "-z",
                                             "--untracked-files=normal", "--no-renames",
                                             "--ignore-submodules=dirty", cwd=worktree).stdout):
            self._git_raw(*INDEX_OPTIONS, "add", "-A", "--sparse", "--pathspec-from-file=-",
                          "--pathspec-file-nul", cwd=worktree, input=b"\0".join(paths),
                          env={"GIT_LITERAL_PATHSPECS": "1"})  # fmt: skip
        if keep_out:
            self._git("reset", "-q", "--", *(f":(top,literal){p}" for p in keep_out), cwd=worktree)
        return self._git(*INDEX_OPTIONS, "write-tree", cwd=worktree).strip()

    def clean_ignored(self, cwd: Path) -> None:
        """Delete the ignored files at ``cwd`` (never an untracked one: that may be work)."""
        self._git(*INDEX_OPTIONS, "clean", "-ffdqX", cwd=cwd)

    def worktree_facts(
        self, worktree: Path, ref: str
    ) -> tuple[tuple[Path, Path, Path], tuple[str, str, str | None, str] | None] | None:
        """``worktree_dirs`` and HEAD's facts in one command: HEAD's commit and tree, the ref
        HEAD is attached to (None: detached) and the commit of ``ref`` (a full name). The facts
        are None when one does not resolve (HEAD unborn, ``ref`` gone); the whole answer is
        None when git does not see a worktree there. One process where there were two."""
        dirs = ("--path-format=absolute", "--show-toplevel", "--git-common-dir", "--git-dir")
        revs = ("HEAD^{commit}", "HEAD^{tree}", f"{ref}^{{commit}}", "--symbolic-full-name", "HEAD")
        proc = self._git_raw("rev-parse", *dirs, *revs, cwd=worktree, ok=None)
        lines = os.fsdecode(proc.stdout).split("\n")
        if proc.returncode != 0 or len(lines) != 8 or lines[7] or not ref.startswith("refs/"):
            found = self.worktree_dirs(worktree)
            return None if found is None else (found, None)
        top, common, own, head, tree, ref_commit, attached = lines[:7]
        facts = (head, tree, None if attached == "HEAD" else attached, ref_commit)
        return (Path(top), Path(common), Path(own)), facts

    def head_state(self, cwd: Path) -> str:
        """HEAD's commit and the ref it is attached to, as text to compare (never raises)."""
        proc = self._git_raw("rev-parse", "HEAD", "--symbolic-full-name", "HEAD", cwd=cwd, ok=None)
        return os.fsdecode(proc.stdout)

    def attached_ref(self, cwd: Path) -> str | None:
        """The full ref HEAD is attached to at ``cwd``, None when detached."""
        proc = self._git_raw("symbolic-ref", "-q", "HEAD", cwd=cwd, ok=(0, 1))
        return os.fsdecode(proc.stdout).strip() or None

    def attach_head(self, cwd: Path, ref: str, message: str) -> None:
        """Point HEAD at ``ref`` without touching a file or the index."""
        self._git("symbolic-ref", "-m", message, "HEAD", ref, cwd=cwd)

    def detach_head(self, cwd: Path, message: str, head: str | None = None) -> None:
        """Detach HEAD where it is (at ``head``, when known): its branch is free to be renamed."""
        head = head or self._git("rev-parse", "--verify", "HEAD", cwd=cwd).strip()
        self._git("update-ref", "--no-deref", "-m", message, "HEAD", head, cwd=cwd)

    # ------------------------------------------------- bundles (the Ray executor's transport)
    def bundle_create(self, path: Path, ref: str, *, exclude: Sequence[str] = ()) -> bool:
        """Write a bundle of ``ref`` (a full ref name) without the commits ``exclude`` reach
        (``--remotes`` for what a remote is known to hold); False when nothing is left to put
        in it, which git refuses as an empty bundle."""
        not_args = ("--not", *exclude) if exclude else ()
        proc = self._git_raw("bundle", "create", "--quiet", str(path), ref, *not_args, ok=None)
        if proc.returncode == 0:
            return True
        if b"empty bundle" in proc.stderr:
            return False
        from coordinator.io.gitrepo import git_error  # noqa: PLC0415 - the door's own helper

        raise git_error(proc, path.parent)

    def bundle_unbundle(self, path: Path) -> dict[str, str]:
        """Store a bundle's objects in this repository (no ref moves); its refs -> their sha."""
        out = self._git("bundle", "unbundle", str(path))
        refs: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, ref = line.partition(" ")
            if sha and ref:
                refs[ref] = sha
        return refs


def to_stage(status: bytes) -> list[bytes]:
    """The paths of ``status --porcelain -z --no-renames`` whose worktree side (Y) differs
    from the index: changed, deleted, untracked (``??``) and unmerged ones (each unmerged code
    has a Y other than a space). Index-only changes (``M ``, ``A ``, ``D ``) are staged."""
    return [record[3:] for record in status.split(b"\0")
            if len(record) > 3 and record[1:2] != b" "]  # fmt: skip


def own_git_dir(worktree: Path) -> Path | None:
    """The git directory a linked worktree's ``.git`` file names (None when it names none)."""
    try:
        text = (worktree / ".git").read_bytes()
    except OSError:
        return None
    if not text.startswith(b"gitdir: "):
        return None
    admin = Path(os.fsdecode(text[len(b"gitdir: ") :].rstrip(b"\n")))
    return admin if admin.is_absolute() else worktree / admin


def large_git_dir(worktree: Path) -> Path | None:
    """The git directory of a linked worktree whose index is large (``large_index``), else
    None."""
    admin = own_git_dir(worktree)
    return admin if admin is not None and large_index(admin) else None


def large_index(admin: Path) -> bool:
    """Whether the index in the git directory ``admin`` is large (``LARGE_INDEX_BYTES``) or
    split already (a shared index beside it). Only chooses between two equally correct ways."""
    try:
        with os.scandir(admin) as entries:
            for entry in entries:
                if entry.name.startswith("sharedindex.") or (
                    entry.name == "index"
                    and entry.is_file(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_size >= LARGE_INDEX_BYTES
                ):
                    return True
    except OSError:
        return False
    return False


def clone_bare(source: str, dest: Path) -> None:
    """A bare clone of ``source`` (a URL, a path or a bundle file) at ``dest``: where a Ray
    node keeps the task's repository, borrowing nothing from the coordinator's machine."""
    from coordinator.io.gitrepo import run_git  # noqa: PLC0415 - gitrepo imports this module

    run_git(("clone", "--bare", "--quiet", "--", source, str(dest)), dest.parent,
            config=((f"protocol.{transport_of(source)}.allow", "always"),))  # fmt: skip


def transport_of(source: str) -> str:
    """The one transport a clone of ``source`` needs: every coordinator git command runs with
    ``protocol.allow=never`` (see ``gitenv``), and a node's clone is allowed just this one."""
    scheme, sep, _ = source.partition("://")
    if sep:
        return "ssh" if scheme in ("ssh", "git+ssh", "ssh+git") else scheme
    head = source.split("/", 1)[0]
    return "ssh" if ":" in head and not source.startswith("/") else "file"
