"""The one door to git: every git command the coordinator runs goes through ``run_git``.

Why it looks the way it does:

* GitPython is not thread-safe and leaves ``git cat-file`` helpers running, so it is used for one
  thing only, finding the repository, and is closed with it. Every command is a plain
  subprocess with an argv list (never a shell), run from the engine thread.
* Git hooks export ``GIT_DIR``, ``GIT_WORK_TREE``, ``GIT_INDEX_FILE`` and friends. Inherited, they
  would aim every command at the hook's repository and index, so ``git_env`` drops them (the
  rule of pre-commit's ``no_git_env``) and the tool also works when started from a hook.
* A failing command becomes a ``GitError`` that names the command, its exit code and what git
  printed, so the CLI shows git's own words instead of a traceback.
* Paths are always read with ``-z`` and decoded like file names (``os.fsdecode``), so any name,
  including one with newlines, quotes or invalid UTF-8, round-trips.
* Commits are made with plumbing (``write-tree``/``commit-tree``/``update-ref``), never
  ``git commit``: no user hook can run (``--no-verify`` would still run ``prepare-commit-msg``
  and ``post-commit``), nothing is signed or asks for a passphrase, no config edits the message.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import git

from coordinator.core.config import Identity
from coordinator.errors import GitError, InputError, Problem

log = logging.getLogger(__name__)

NOT_A_REPO = "not a git repository"
NOT_A_REPO_FIX = "run coordinator inside a git repository, or `git init` first"
# pre-commit's no_git_env keep-list, plus variables only a user sets (never git, for a hook).
_KEEP_ENV = frozenset({
    "GIT_EXEC_PATH", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSL_CAINFO", "GIT_SSL_NO_VERIFY",
    "GIT_CONFIG_COUNT", "GIT_HTTP_PROXY_AUTHMETHOD", "GIT_ALLOW_PROTOCOL", "GIT_ASKPASS",
    "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
})  # fmt: skip
_KEEP_PREFIXES = ("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_", "GIT_TRACE")
_STDERR_LIMIT = 4000
_LOG_FIELDS = ("%H", "%P", "%ct", "%s", "%b", "%(trailers:only,unfold)")
_PLAIN_LOG = ("--no-color", "--no-show-signature", "--no-notes", "--no-decorate")


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` without the ``GIT_*`` variables a hook or a parent git leaks, plus ``extra``.

    ``GIT_TERMINAL_PROMPT=0`` makes git fail instead of waiting for a password nobody types;
    ``GIT_OPTIONAL_LOCKS=0`` keeps ``status`` from taking ``index.lock`` just to refresh stat data.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") or key in _KEEP_ENV or key.startswith(_KEEP_PREFIXES)
    }
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    env.update(extra or {})
    return env


def identity_env(identity: Identity) -> dict[str, str]:
    """Author and committer for one command, without touching anyone's git config."""
    name, email = identity.name, identity.email
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}  # fmt: skip


def run_git(
    args: Sequence[str],
    cwd: Path,
    *,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    ok: Sequence[int] | None = (0,),
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git *args`` in ``cwd``; raise ``GitError`` unless the exit code is in ``ok``.

    ``ok=None`` accepts every exit code (the caller reads ``returncode`` itself). Without
    ``input`` stdin is ``/dev/null``, so git can never wait for a keyboard.
    """
    argv = ["git", *args]
    stdin = subprocess.DEVNULL if input is None else None
    try:
        proc = subprocess.run(argv, cwd=cwd, input=input, stdin=stdin, capture_output=True,
                              env=git_env(env), check=False)  # fmt: skip
    except OSError as exc:  # git missing, or cwd gone
        raise GitError(f"cannot run `{shlex.join(argv)}` in {cwd}: {exc}") from None
    if ok is not None and proc.returncode not in ok:
        raise git_error(proc, cwd)
    return proc


def git_error(proc: subprocess.CompletedProcess[bytes], cwd: Path) -> GitError:
    """What failed, where, with which exit code, and git's own explanation."""
    command = shlex.join(str(arg) for arg in proc.args)
    said = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()
    if len(said) > _STDERR_LIMIT:
        said = said[:_STDERR_LIMIT] + " [...]"
    return GitError(f"`{command}` failed with exit code {proc.returncode} in {cwd}:\n{said}")


def split_z(out: bytes) -> list[str]:
    """The names in ``-z`` output, decoded the way Python decodes file names."""
    return [os.fsdecode(part) for part in out.split(b"\0") if part]


@dataclass(frozen=True, slots=True)
class MergeResult:
    """A merge computed in the object store: the tree when clean, else the conflicted paths."""

    tree: str | None
    conflicts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """One commit as ``review`` and ``merged_tasks`` read it; ``body`` includes the trailers."""

    sha: str
    parents: tuple[str, ...]
    subject: str
    body: str
    trailers: dict[str, str]
    committed_at: float


@dataclass(frozen=True, slots=True)
class Change:
    """One first-parent commit as history mining reads it: its message and changed files."""

    sha: str
    message: str
    files: tuple[str, ...]
    renames: tuple[tuple[str, str], ...] = ()  # (old path, new path)


@dataclass(frozen=True, slots=True)
class WorktreeInfo:
    """One entry of ``git worktree list``; ``branch`` is the short name, None when detached."""

    path: Path
    head: str | None
    branch: str | None
    bare: bool = False
    detached: bool = False
    locked: bool = False
    prunable: bool = False


def parse_trailers(text: str) -> dict[str, str]:
    """``Key: value`` lines (already unfolded by git) as a dict; a repeated key keeps its last."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and " " not in key.strip():
            out[key.strip()] = value.strip()
    return out


def _name_status(fields: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Files and renames of one commit's ``--name-status -z`` fields. A deleted and an added
    file with the same directory and stem (``CHANGES.rst`` -> ``CHANGES.md``, rewritten too
    much for git to pair them) count as a rename as well."""
    files: list[str] = []
    renames: list[tuple[str, str]] = []
    added: dict[str, str] = {}
    deleted: dict[str, str] = {}
    i = 0
    while i + 1 < len(fields):
        status = fields[i].strip()[:1]
        if status in ("R", "C") and i + 2 < len(fields):
            old, new = fields[i + 1], fields[i + 2]
            files += [old, new] if status == "R" else [new]
            if status == "R":
                renames.append((old, new))
            i += 3
            continue
        path = fields[i + 1]
        files.append(path)
        stem = path.rsplit(".", 1)[0]
        if status == "A":
            added[stem] = path
        elif status == "D":
            deleted[stem] = path
        i += 2
    renames += [(old, added[stem]) for stem, old in deleted.items() if stem in added]
    return files, renames


def parse_worktrees(out: bytes) -> list[WorktreeInfo]:
    """``worktree list --porcelain -z``: NUL-ended ``key value`` fields, an empty one per record."""
    infos: list[WorktreeInfo] = []
    record: dict[str, str] = {}
    for raw in [*out.split(b"\0"), b""]:
        if raw:
            key, _, value = os.fsdecode(raw).partition(" ")
            record[key] = value
            continue
        if "worktree" in record:
            branch = record.get("branch")
            infos.append(WorktreeInfo(
                path=Path(record["worktree"]), head=record.get("HEAD"),
                branch=branch.removeprefix("refs/heads/") if branch else None,
                bare="bare" in record, detached="detached" in record,
                locked="locked" in record, prunable="prunable" in record,
            ))  # fmt: skip
        record = {}
    return infos


class GitRepo:
    """One repository: ``root`` is the main working tree, ``git_dir`` the common git directory.

    Both are the same whether discovered from the main checkout or from inside a linked
    worktree, so run files, locks and excludes always land in one place. Commands run in
    ``root`` unless given ``cwd`` (a worktree, for the commands that read its index or HEAD).
    """

    def __init__(self, root: Path, git_dir: Path, handle: git.Repo | None = None) -> None:
        self.root = root
        self.git_dir = git_dir
        self._handle = handle

    @classmethod
    def discover(cls, path: Path) -> GitRepo:
        """The repository containing ``path``, searching parent directories.

        GitPython finds it; ``root`` and ``git_dir`` are then asked of git itself with a clean
        environment, because GitPython reads an inherited ``GIT_WORK_TREE``, ``GIT_COMMON_DIR``
        or ``GIT_OBJECT_DIRECTORY`` (a hook's) and can even fail to see the repository. So a
        "not a repository" from GitPython is confirmed by git before it reaches the user.
        """
        start = Path(path).absolute()
        cwd = start if start.is_dir() else start.parent
        handle: git.Repo | None = None
        try:
            handle = git.Repo(start, search_parent_directories=True)
        except git.NoSuchPathError:
            raise InputError(
                Problem(
                    str(path),
                    "-C",
                    "no such directory",
                    "name an existing directory inside a git repository",
                )
            ) from None
        except git.InvalidGitRepositoryError:
            if run_git(["rev-parse", "--git-dir"], cwd, ok=None).returncode != 0:
                raise InputError(Problem(str(path), None, NOT_A_REPO, NOT_A_REPO_FIX)) from None
        try:
            common = run_git(["rev-parse", "--path-format=absolute", "--git-common-dir"], cwd)
            trees = parse_worktrees(run_git(["worktree", "list", "--porcelain", "-z"], cwd).stdout)
            if not trees or trees[0].bare:
                raise InputError(Problem(str(path), None, "is in a bare repository",
                                         "run coordinator in a checkout"))  # fmt: skip
        except BaseException:
            if handle is not None:
                handle.close()
            raise
        return cls(trees[0].path, Path(os.fsdecode(common.stdout.strip())), handle)

    def close(self) -> None:
        """Release GitPython's handle and any helper process it started; safe to call twice."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> GitRepo:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- running
    def run_raw(
        self,
        *args: str,
        cwd: Path | None = None,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        ok: Sequence[int] | None = (0,),
    ) -> subprocess.CompletedProcess[bytes]:
        """``git *args`` with bytes out; the exit codes in ``ok`` are accepted (None: all)."""
        data = None if input is None else input.encode("utf-8")
        return run_git(args, cwd or self.root, input=data, env=env, ok=ok)

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> str:
        """``git *args``, stdout as text; ``check=False`` returns it whatever the exit code."""
        proc = self.run_raw(*args, cwd=cwd, input=input, env=env, ok=(0,) if check else None)
        return proc.stdout.decode("utf-8", "replace")

    # -------------------------------------------------------------------- refs
    def rev_parse(self, rev: str) -> str | None:
        """The full sha of the commit ``rev`` names (tags peeled), or None."""
        return self._ref_value(f"{rev}^{{commit}}")

    def _ref_value(self, ref: str) -> str | None:
        """What ``ref`` resolves to, unpeeled (what ``update-ref`` compares), or None."""
        proc = self.run_raw("rev-parse", "--verify", "--quiet", "--end-of-options", ref, ok=None)
        value = proc.stdout.decode().strip()
        return value if proc.returncode == 0 and value else None

    def head_branch(self) -> str | None:
        """The branch of the main working tree (also while unborn); None when HEAD is detached."""
        out = self.run_raw("symbolic-ref", "--quiet", "--short", "HEAD", ok=(0, 1)).stdout
        return out.decode().strip() or None

    def tracked_files(self, rev: str = "HEAD") -> list[str]:
        """Every file in ``rev``'s tree; [] while HEAD is unborn (nothing committed yet)."""
        if rev == "HEAD" and self.rev_parse("HEAD") is None:
            return []
        args = ("ls-tree", "-r", "--full-tree", "--name-only", "-z", "--end-of-options", rev)
        return split_z(self.run_raw(*args).stdout)

    def branch_exists(self, name: str) -> bool:
        return self._ref_value(f"refs/heads/{name}") is not None

    def create_branch(self, name: str, commit: str) -> None:
        """A new branch at ``commit``; fails when it exists (an existing branch never moves)."""
        self.run("branch", "--no-track", name, commit)

    def delete_branch(self, name: str) -> None:
        """Delete even if unmerged; git refuses while a worktree has the branch checked out."""
        self.run("branch", "-D", name)

    def rename_branch(self, old: str, new: str) -> None:
        """Fails when ``new`` exists; a worktree that has ``old`` checked out follows the rename."""
        self.run("branch", "-m", old, new)

    def list_branches(self, prefix: str) -> dict[str, str]:
        """Branches whose short name starts with ``prefix`` -> their sha."""
        out = self.run("for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/")
        pairs = (line.split(" ", 1) for line in out.splitlines())
        names = ((ref.removeprefix("refs/heads/"), sha) for sha, ref in pairs)
        return {name: sha for name, sha in names if name.startswith(prefix)}

    def update_ref(
        self, ref: str, new: str, old: str | None, *, message: str = "coordinator",
        identity: Identity | None = None,
    ) -> bool:  # fmt: skip
        """Compare-and-swap ``ref`` from ``old`` (None: must not exist yet) to ``new``.

        False when the ref did not hold ``old``: someone else moved it and the caller decides.
        Other failures raise. ``ref`` must be a full name (``refs/...``), so that a short
        ``main`` cannot quietly become ``.git/main``.
        """
        if not ref.startswith("refs/"):
            raise ValueError(f"update_ref needs a full ref name (refs/...), not {ref!r}")
        env = identity_env(identity) if identity else None
        proc = self.run_raw("update-ref", "-m", message, ref, new, old or "", env=env, ok=None)
        if proc.returncode == 0:
            return True
        if self._ref_value(ref) != old:
            return False
        raise git_error(proc, self.root)

    def is_ancestor(self, a: str, b: str) -> bool:
        return self.run_raw("merge-base", "--is-ancestor", a, b, ok=(0, 1)).returncode == 0

    def changed_files(self, base: str, head: str) -> list[str]:
        """Paths that differ between two commits; a rename counts as both of its paths.

        ``diff-tree`` is ``diff --name-only --no-renames -z`` as plumbing: no user config
        (``diff.renames``, external drivers, ``diff.relative``) changes what it reports.
        """
        args = ("diff-tree", "-r", "--no-renames", "--name-only", "-z", base, head)
        return split_z(self.run_raw(*args).stdout)

    # ----------------------------------------------------------------- commits
    def commit_all(
        self, worktree: Path, message: str, identity: Identity, exclude: Sequence[str] = ()
    ) -> str | None:
        """Commit everything an agent left in ``worktree`` onto its HEAD; None if nothing changed.

        ``exclude`` holds repo-relative pathspecs left out of the commit (and unstaged if the
        agent staged them). Only call this once the agent's process tree is dead: a leftover
        ``index.lock`` is then certainly stale (the agent died inside a git command), so it is
        removed with a warning in the log instead of failing the task.
        """
        admin = Path(self.run("rev-parse", "--absolute-git-dir", cwd=worktree).strip())
        lock = admin / "index.lock"
        if lock.exists():
            lock.unlink()
            log.warning("removed stale %s left by a dead agent", lock)
        excluded = [f":(top,exclude){p}" for p in exclude]
        self.run("add", "-A", "--", ":(top)", *excluded, cwd=worktree)
        if exclude:
            self.run("reset", "-q", "HEAD", "--", *(f":(top){p}" for p in exclude), cwd=worktree)
        tree = self.run("write-tree", cwd=worktree).strip()
        head, head_tree = self.run("rev-parse", "HEAD", "HEAD^{tree}", cwd=worktree).split()
        if tree == head_tree:
            return None
        commit = self.commit_tree(tree, [head], message, identity)
        why = "coordinator: commit work left by agent"
        update = self.run_raw("update-ref", "-m", why, "HEAD", commit, head, cwd=worktree,
                              env=identity_env(identity), ok=None)  # fmt: skip
        if update.returncode != 0:
            raise GitError(f"HEAD of {worktree} moved while committing the agent's work")
        return commit

    def commit_tree(
        self, tree: str, parents: Sequence[str], message: str, identity: Identity
    ) -> str:
        """A commit object (no ref moves), with ``parents`` exactly as given, even repeated.

        ``commit-tree`` would drop a repeated parent, so that case writes the object itself.
        """
        text = message if message.endswith("\n") else message + "\n"
        if len(set(parents)) < len(parents):
            return self._write_commit(tree, parents, text, identity)
        args = ["-c", "commit.gpgSign=false", "commit-tree", "--no-gpg-sign", tree]
        for parent in parents:
            args += ["-p", parent]
        return self.run(*args, input=text, env=identity_env(identity)).strip()

    def _write_commit(self, tree: str, parents: Sequence[str], text: str, who: Identity) -> str:
        """A raw commit via ``hash-object``, once the tree and parents are known to exist."""
        revs = [f"{tree}^{{tree}}", *(f"{p}^{{commit}}" for p in parents)]
        resolved = self.run("rev-parse", *revs).split()
        if any(ch in f"{who.name}{who.email}" for ch in "<>\n\0"):
            raise GitError(f"identity {who.name} <{who.email}> cannot go in a commit header")
        offset = time.localtime().tm_gmtoff // 60
        zone = f"{'-' if offset < 0 else '+'}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
        ident = f"{who.name} <{who.email}> {int(time.time())} {zone}"
        header = [f"tree {resolved[0]}", *(f"parent {p}" for p in resolved[1:])]
        raw = "\n".join([*header, f"author {ident}", f"committer {ident}", "", text])
        return self.run("hash-object", "-t", "commit", "-w", "--stdin", input=raw).strip()

    def merge_tree(self, ours: str, theirs: str) -> MergeResult:
        """Merge two commits in the object store only: no index, no working tree, no checkout.

        Exit code 1 means conflicts (their paths follow the tree id); anything else raises.
        """
        args = ("merge-tree", "--write-tree", "--no-messages", "--name-only", "-z", ours, theirs)
        proc = self.run_raw(*args, ok=(0, 1))
        fields = split_z(proc.stdout)
        if proc.returncode == 0:
            return MergeResult(fields[0])
        return MergeResult(None, tuple(dict.fromkeys(fields[1:])))

    # ----------------------------------------------------------------- history
    def first_parent_log(
        self, ref: str, stop_at: str | None = None, *, merges_only: bool = False,
        grep: Sequence[str] = (),
    ) -> list[CommitInfo]:  # fmt: skip
        """``ref``'s first-parent history, newest first, without ``stop_at`` and its ancestors.

        A ref that does not exist has no history ([]). ``grep`` (``git log --grep`` regexes, a
        commit matching any of them is kept) lets git skip the commits of a long history
        instead of Python.
        """
        if self.rev_parse(ref) is None:
            return []
        args = ["log", "--first-parent", *_PLAIN_LOG, "-z", "--format=" + "%x00".join(_LOG_FIELDS)]
        args += ["--min-parents=2"] if merges_only else []
        args += [f"--grep={pattern}" for pattern in grep]
        args += ["--end-of-options", ref, *([f"^{stop_at}"] if stop_at else []), "--"]
        parts = self.run(*args).split("\0")
        if parts[-1] == "":
            parts.pop()  # -z ends every commit with a NUL
        width = len(_LOG_FIELDS)
        if len(parts) % width:
            raise GitError(f"unexpected `git log` output for {ref}: {len(parts)} fields")
        records = (parts[i : i + width] for i in range(0, len(parts), width))
        return [
            CommitInfo(sha, tuple(ps.split()), subject, body.strip(), parse_trailers(tr), float(ct))
            for sha, ps, ct, subject, body, tr in records
        ]

    def first_parent_changes(self, rev: str, most: int) -> list[Change]:
        """The newest ``most`` first-parent commits of ``rev`` with the files each changed
        (a merge as its diff against the first parent), newest first. A rename counts as both
        of its paths and is also listed in ``renames``, so history can follow a file."""
        args = ["log", "--first-parent", "--diff-merges=first-parent", "-M", *_PLAIN_LOG,
                "--name-status", "-z", "--format=%x01%H%x02%B%x03", f"-n{most}",
                "--end-of-options", rev, "--"]  # fmt: skip
        changes: list[Change] = []
        for record in self.run_raw(*args).stdout.split(b"\x01")[1:]:
            head, _, names = record.partition(b"\x03")
            sha, _, message = head.partition(b"\x02")
            fields = split_z(names.strip(b"\n\0"))
            files, renames = _name_status(fields)
            message_text = message.decode("utf-8", "replace")
            changes.append(Change(sha.decode(), message_text, tuple(dict.fromkeys(files)),
                                  tuple(renames)))  # fmt: skip
        return changes

    def tree_blobs(self, rev: str) -> dict[str, str]:
        """Every file of ``rev``'s tree -> its blob id (submodules and links left out)."""
        out = self.run_raw("ls-tree", "-r", "--full-tree", "-z", "--end-of-options", rev).stdout
        blobs: dict[str, str] = {}
        for entry in out.split(b"\0"):
            meta, _, name = entry.partition(b"\t")
            fields = meta.split()
            if len(fields) == 3 and fields[1] == b"blob" and fields[0] != b"120000":
                blobs[os.fsdecode(name)] = fields[2].decode()
        return blobs

    def read_blobs(self, ids: Sequence[str], limit: int) -> dict[str, bytes]:
        """The contents of blobs no larger than ``limit`` bytes, by id, in one ``cat-file``."""
        if not ids:
            return {}
        sizes = self.run_raw("cat-file", "--batch-check=%(objectname) %(objectsize)",
                             input="\n".join(ids) + "\n").stdout.decode().split()  # fmt: skip
        small = [sizes[i] for i in range(0, len(sizes) - 1, 2) if int(sizes[i + 1]) <= limit]
        if not small:
            return {}
        out = self.run_raw("cat-file", "--batch", input="\n".join(small) + "\n").stdout
        blobs: dict[str, bytes] = {}
        pos = 0
        while pos < len(out):
            header_end = out.index(b"\n", pos)
            sha, _, size = out[pos:header_end].decode().split(" ")
            start = header_end + 1
            blobs[sha] = out[start : start + int(size)]
            pos = start + int(size) + 1
        return blobs

    def trailers_of(self, sha: str) -> dict[str, str]:
        """The trailers git itself recognises in ``sha``'s message (``%(trailers)``)."""
        args = ("log", "-1", *_PLAIN_LOG, "--format=%(trailers:only,unfold)", "--end-of-options")
        return parse_trailers(self.run(*args, sha, "--"))

    def diffstat(self, a: str, b: str) -> str:
        return self.run("diff", "--stat", "--no-color", "--no-ext-diff", a, b, "--")

    def diff(self, a: str, b: str) -> str:
        return self.run("diff", "--no-color", "--no-ext-diff", a, b, "--")

    # --------------------------------------------------------------- worktrees
    def worktree_list(self) -> list[WorktreeInfo]:
        """Every worktree git knows, the main working tree first."""
        return parse_worktrees(self.run_raw("worktree", "list", "--porcelain", "-z").stdout)

    def worktree_add(
        self, path: Path, branch: str, commit: str, *, no_checkout: bool = False
    ) -> None:
        """A worktree at ``path`` on a NEW branch at ``commit``; fails if the branch exists.

        For an existing branch use ``worktree_add_existing``: reusing one is a separate decision.
        """
        extra = ["--no-checkout"] if no_checkout else []
        self.run("worktree", "add", "--quiet", "--no-track", *extra, "-b", branch, "--",
                 str(path), commit)  # fmt: skip

    def worktree_add_existing(self, path: Path, branch: str) -> None:
        """A worktree on an EXISTING branch (git refuses if another worktree has it out)."""
        self.run("worktree", "add", "--quiet", "--", str(path), branch)

    def worktree_remove(self, path: Path, *, force: bool = False) -> None:
        """Without ``force`` git refuses when the worktree has changes or untracked files."""
        self.run("worktree", "remove", *(["--force"] if force else []), "--", str(path))

    def worktree_move(self, path: Path, new_path: Path) -> None:
        self.run("worktree", "move", "--", str(path), str(new_path))

    def worktree_prune(self) -> None:
        """Forget registrations whose directories are gone (locked ones are kept)."""
        self.run("worktree", "prune")
