"""The door to git: every git command line is built here (or in ``gitworktree``, or for task
clones in ``gitisolation``) and starts in ``gitrun.run_git``.

Other modules call ``GitRepo`` methods named for what they do, never git arguments, so options
every command must carry (``GLOBAL_OPTIONS``, e.g. a hooks path) are added in one place.

* Every command is a plain subprocess (``processes``) with an argv list (never a shell) and the
  environment of ``git_env``: no ``GIT_*`` variable a hook leaked. The long-lived ``cat-file``
  that ``gitobjects`` reads objects from starts here too.
* The engine's jobs run git from several threads at once; the few commands git cannot run side
  by side are serialized here (``_SERIAL_COMMANDS``).
* A failing command is a ``GitError`` naming the command, its exit code and git's own words.
* Paths are always read with ``-z`` and decoded like file names (``os.fsdecode``), so any name,
  including one with newlines, quotes or invalid UTF-8, round-trips.
* Commits are made with plumbing (``write-tree``/``commit-tree``/``update-ref``), never
  ``git commit``: no user hook can run (``--no-verify`` would still run ``prepare-commit-msg``
  and ``post-commit``), nothing is signed or asks for a passphrase, no config edits the message.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from coordinator.core.config import Identity
from coordinator.core.refdelta import parse_refs
from coordinator.core.refs import HEADS, branch_ref
from coordinator.errors import InputError, Problem
from coordinator.io import gitdata, processes
from coordinator.io.gitdata import Change, CommitInfo, MergeResult, split_z
from coordinator.io.gitenv import identity_env
from coordinator.io.gitobjects import ObjectReader
from coordinator.io.gitrun import (
    GLOBAL_OPTIONS,
    NO_DIFF_PROGRAMS,
    Env,
    Overrides,
    git_command,
    git_error,
    run_git,
)
from coordinator.io.gitworktree import INDEX_OPTIONS, WorktreeCommands
from coordinator.io.gitworktree import WORKTREE_LIST as _WORKTREE_LIST
from coordinator.io.processes import ProcessResult

__all__ = ["GLOBAL_OPTIONS", "GitRepo", "Overrides", "git_command", "git_error", "run_git"]

NOT_A_REPO = "not a git repository"
NOT_A_REPO_FIX = "run coordinator inside a git repository, or `git init` first"
_PLAIN_LOG = ("--no-color", "--no-show-signature", "--no-notes", "--no-decorate")
# Commands that read or change the worktrees' admin directories (.git/worktrees/*) or write
# .git/config. Git does not wait for another process doing the same: it reads a half-made
# .git/worktrees/<id> ("failed to read .../commondir") or finds config.lock taken and fails.
# The engine runs git from several threads, so one ``GitRepo`` runs these one at a time.
_SERIAL_COMMANDS = frozenset({"worktree", "branch", "sparse-checkout"})
_LOG_FORMAT = "--format=" + "%x00".join(gitdata.LOG_FIELDS)
_SHA = re.compile(r"[0-9a-f]{7,64}")


def _subcommand(args: Sequence[str]) -> str | None:
    """The git subcommand of ``args``, past any leading ``-c key=value`` options."""
    i = 0
    while i + 1 < len(args) and args[i] == "-c":
        i += 2
    return args[i] if i < len(args) else None


class GitRepo(WorktreeCommands):
    """One repository: ``root`` is the main working tree, ``git_dir`` the common git directory.

    Both are the same whether discovered from the main checkout or from inside a linked
    worktree, so run files, locks and excludes always land in one place. Commands run in
    ``root`` unless given ``cwd`` (a worktree, for the commands that read its index or HEAD).
    """

    def __init__(self, root: Path, git_dir: Path) -> None:
        self.root = root
        self.git_dir = git_dir
        self._readers: list[ObjectReader] = []
        self._serial = threading.RLock()  # see _SERIAL_COMMANDS
        # During a run: more config for each command (``gitguard``: drivers to disable).
        self.guard: Callable[[], Overrides] | None = None

    @classmethod
    def discover(cls, path: Path) -> GitRepo:
        """The repository containing ``path``, searching parent directories.

        Asked of git itself with a clean environment (``git_env``): an inherited
        ``GIT_WORK_TREE``, ``GIT_COMMON_DIR`` or ``GIT_OBJECT_DIRECTORY`` (a hook's) must not
        decide which repository this is.
        """
        start = Path(path).absolute()
        if not start.exists():
            fix = "name an existing directory inside a git repository"
            raise InputError(Problem(str(path), "-C", "no such directory", fix))
        cwd = start if start.is_dir() else start.parent
        args = ("rev-parse", "--path-format=absolute", "--git-common-dir")
        common = run_git(args, cwd, ok=None)
        if common.returncode != 0:
            raise InputError(Problem(str(path), None, NOT_A_REPO, NOT_A_REPO_FIX))
        trees = gitdata.parse_worktrees(run_git(_WORKTREE_LIST, cwd).stdout)
        if not trees or trees[0].bare:
            raise InputError(Problem(str(path), None, "is in a bare repository",
                                     "run coordinator in a checkout"))  # fmt: skip
        return cls(trees[0].path, Path(os.fsdecode(common.stdout.strip())))

    def reader(self) -> ObjectReader:
        """Commits and trees read in this process (GitPython over one ``cat-file``), for the
        commands that look up many objects; ``close`` it (or the repository) when done."""
        argv, env = git_command(["cat-file", "--batch-command"])
        started = processes.start(argv, cwd=self.root, env=env, stdin=processes.PIPE,
                                  stdout=processes.PIPE, stderr=processes.DEVNULL)  # fmt: skip
        self._readers.append(ObjectReader(self.root, started))
        return self._readers[-1]

    def close(self) -> None:
        """Stop the readers' helper processes; safe to call twice."""
        while self._readers:
            self._readers.pop().close()

    def __enter__(self) -> GitRepo:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- running
    def _git_raw(
        self, *args: str, cwd: Path | None = None, input: str | bytes | None = None,
        env: Env = None, ok: Sequence[int] | None = (0,),
    ) -> ProcessResult:  # fmt: skip
        """``git *args`` with bytes out; the exit codes in ``ok`` are accepted (None: all)."""
        data = input.encode("utf-8") if isinstance(input, str) else input
        config = self.guard() if self.guard is not None else ()
        if _subcommand(args) in _SERIAL_COMMANDS:
            with self._serial:
                return run_git(args, cwd or self.root, input=data, env=env, ok=ok, config=config)
        return run_git(args, cwd or self.root, input=data, env=env, ok=ok, config=config)

    def _git(
        self, *args: str, cwd: Path | None = None, input: str | None = None,
        env: Env = None, check: bool = True,
    ) -> str:  # fmt: skip
        """``git *args``, stdout as text; ``check=False`` returns it whatever the exit code."""
        proc = self._git_raw(*args, cwd=cwd, input=input, env=env, ok=(0,) if check else None)
        return proc.stdout.decode("utf-8", "replace")

    # -------------------------------------------------------------------- refs
    def rev_parse(self, rev: str, *, cwd: Path | None = None) -> str | None:
        """The full sha of the commit ``rev`` names (tags peeled; ``HEAD`` of ``cwd``), or None."""
        return self.resolve(f"{rev}^{{commit}}", cwd=cwd)

    def resolve(self, rev: str, *, cwd: Path | None = None) -> str | None:
        """What ``rev`` resolves to, unpeeled (what ``update-ref`` compares), or None."""
        args = ("rev-parse", "--verify", "--quiet", "--end-of-options", rev)
        proc = self._git_raw(*args, cwd=cwd, ok=None)
        value = os.fsdecode(proc.stdout).strip()
        return value if proc.returncode == 0 and value else None

    def tree_of(self, rev: str) -> str:
        """The tree id of commit ``rev``; raises when it does not exist."""
        return self._git("rev-parse", "--verify", "--end-of-options", f"{rev}^{{tree}}").strip()

    def subject_of(self, rev: str) -> str:
        return self._git("log", "-1", *_PLAIN_LOG, "--format=%s", "--end-of-options", rev,
                         "--").strip()  # fmt: skip

    def since_option(self, text: str) -> str:
        """``--max-age=<epoch>``: a date as ``git log --since`` reads it (now when it cannot)."""
        return self._git("rev-parse", f"--since={text}").strip()

    def head_branch(self) -> str | None:
        """The branch of the main working tree (also while unborn); None when HEAD is detached."""
        short = self._git_raw("symbolic-ref", "-q", "--short", "HEAD", ok=(0, 1)).text.strip()
        return short or None

    def tracked_files(self, rev: str = "HEAD") -> list[str]:
        """Every file in ``rev``'s tree; [] while HEAD is unborn (nothing committed yet)."""
        if rev == "HEAD" and self.rev_parse("HEAD") is None:
            return []
        args = ("ls-tree", "-r", "--full-tree", "--name-only", "-z", "--end-of-options", rev)
        return split_z(self._git_raw(*args).stdout)

    def branch_exists(self, name: str) -> bool:
        return self.resolve(branch_ref(name)) is not None

    def create_branch(self, name: str, commit: str) -> None:
        """A new branch at ``commit``; fails when it exists (an existing branch never moves)."""
        self._git("branch", "--no-track", name, commit)

    def delete_branch(self, name: str) -> None:
        """Delete even if unmerged; git refuses while a worktree has the branch checked out."""
        self._git("branch", "-D", name)

    def rename_branch(self, old: str, new: str) -> None:
        """Fails when ``new`` exists; a worktree that has ``old`` checked out follows the rename."""
        self._git("branch", "-m", old, new)

    def list_branches(self, prefix: str) -> dict[str, str]:
        """Branches whose short name starts with ``prefix`` -> their sha."""
        heads = self.all_refs(HEADS)
        names = ((ref.removeprefix(HEADS), sha) for ref, sha in heads.items())
        return {name: sha for name, sha in names if name.startswith(prefix)}

    def all_refs(self, *namespaces: str) -> dict[str, str]:
        """Every ref (or those under ``namespaces``) -> the object it names, tags unpeeled."""
        return parse_refs(self.refs_listing(*namespaces))

    def refs_listing(self, *namespaces: str) -> str:
        """Every ref (or those under ``namespaces``) as lines ``<object> <refname>``, sorted."""
        return self._git("for-each-ref", "--format=%(objectname) %(refname)", *namespaces)

    def contained_in_ref(self, sha: str, *namespaces: str) -> bool:
        """Whether some ref (under ``namespaces``, or any) has ``sha`` in its history."""
        args = ("for-each-ref", "--count=1", "--format=%(refname)", "--contains", sha)
        return bool(self._git(*args, *namespaces).strip())

    def update_ref(
        self, ref: str, new: str, old: str | None, *, message: str = "coordinator",
        identity: Identity | None = None,
    ) -> bool:  # fmt: skip
        """Compare-and-swap ``ref`` from ``old`` (None: must not exist yet) to ``new``; False when
        the ref did not hold ``old`` (the caller decides), other failures raise. ``ref`` must be
        a full name (``refs/...``), so that a short ``main`` cannot quietly become ``.git/main``.
        """
        if not ref.startswith("refs/"):
            raise ValueError(f"update_ref needs a full ref name (refs/...), not {ref!r}")
        env = identity_env(identity) if identity else None
        proc = self._git_raw("update-ref", "-m", message, ref, new, old or "", env=env, ok=None)
        if proc.returncode == 0:
            return True
        if self.resolve(ref) != old:
            return False
        raise git_error(proc, self.root)

    def is_ancestor(self, a: str, b: str) -> bool:
        return self._git_raw("merge-base", "--is-ancestor", a, b, ok=(0, 1)).returncode == 0

    def changed_files(self, base: str, head: str) -> list[str]:
        """Paths that differ between two commits; a rename counts as both of its paths. Plumbing
        (``diff-tree``): no user config (``diff.renames``, ``diff.relative``) changes it."""
        args = ("diff-tree", "-r", "--no-renames", "--name-only", "-z", base, head)
        return split_z(self._git_raw(*args).stdout)

    # ----------------------------------------------------------------- commits
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
        return self._git(*args, input=text, env=identity_env(identity)).strip()

    def _write_commit(self, tree: str, parents: Sequence[str], text: str, who: Identity) -> str:
        """A raw commit via ``hash-object``, once the tree and parents are known to exist."""
        revs = [f"{tree}^{{tree}}", *(f"{p}^{{commit}}" for p in parents)]
        resolved = self._git("rev-parse", *revs).split()
        raw = gitdata.raw_commit(resolved[0], resolved[1:], text, who.name, who.email, time.time())
        return self._git("hash-object", "-t", "commit", "-w", "--stdin", input=raw).strip()

    def merge_tree(self, ours: str, theirs: str, *, attributes: Path | None = None) -> MergeResult:
        """Merge two commits in the object store only: no index, no working tree, no checkout.

        Exit code 1 means conflicts (their paths follow the tree id); anything else raises.
        ``attributes`` is a coordinator-owned attributes file (``[overlap] union``), given to
        this command only as ``core.attributesFile``: the user's files and config stay as they
        are (git 2.39's merge-tree has no ``--attr-source``).
        """
        extra = ("-c", f"core.attributesFile={attributes}") if attributes is not None else ()
        args = (*extra, "merge-tree", "--write-tree", "--no-messages", "--name-only", "-z",
                ours, theirs)  # fmt: skip
        proc = self._git_raw(*args, ok=(0, 1))
        return gitdata.parse_merge_tree(proc.returncode, proc.stdout)

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
        args = ["log", "--first-parent", *_PLAIN_LOG, "-z", _LOG_FORMAT]
        args += ["--min-parents=2"] if merges_only else []
        args += [f"--grep={pattern}" for pattern in grep]
        args += ["--end-of-options", ref, *([f"^{stop_at}"] if stop_at else []), "--"]
        return gitdata.parse_log(self._git(*args), ref)

    def first_parent_changes(self, rev: str, most: int) -> list[Change]:
        """The newest ``most`` first-parent commits of ``rev`` with the files each changed
        (a merge as its diff against the first parent), newest first. A rename counts as both
        of its paths and is also listed in ``renames``, so history can follow a file."""
        args = ["log", "--first-parent", "--diff-merges=first-parent", "-M", *_PLAIN_LOG,
                "--name-status", "-z", "--format=%x01%H%x02%B%x03", f"-n{most}",
                "--end-of-options", rev, "--"]  # fmt: skip
        return gitdata.parse_changes(self._git_raw(*args).stdout)

    def tree_blobs(self, rev: str) -> dict[str, str]:
        """Every file of ``rev``'s tree -> its blob id (submodules and links left out)."""
        out = self._git_raw("ls-tree", "-r", "--full-tree", "-z", "--end-of-options", rev).stdout
        return gitdata.parse_tree_blobs(out)

    def read_blobs(self, ids: Sequence[str], limit: int) -> dict[str, bytes]:
        """The contents of blobs no larger than ``limit`` bytes, by id, in one ``cat-file``."""
        if not ids:
            return {}
        check = self._git_raw("cat-file", "--batch-check=%(objectname) %(objectsize)",
                              input="\n".join(ids) + "\n").stdout  # fmt: skip
        small = gitdata.small_objects(check, limit)
        if not small:
            return {}
        out = self._git_raw("cat-file", "--batch", input="\n".join(small) + "\n").stdout
        return gitdata.parse_batch(out)

    def diffstat(self, a: str, b: str) -> str:
        return self._git("diff", "--stat", "--no-color", *NO_DIFF_PROGRAMS, a, b, "--")

    def diff(self, a: str, b: str) -> str:
        return self._git("diff", "--no-color", *NO_DIFF_PROGRAMS, a, b, "--")

    def config_entries(self, file: Path | None = None) -> list[tuple[str, str, str]]:
        """(origin, key, value) of every config entry git reads here (includes followed), or
        of one ``file``. Runs without ``guard``: the guard itself calls this."""
        where = ["--file", str(file), "--includes"] if file else []
        args = ("config", *where, "--list", "-z", "--show-origin")
        out = run_git(args, self.root, ok=(0, 1)).stdout
        return gitdata.parse_config_list(out)

    def merge_diffstats(self, commits: Sequence[str]) -> dict[str, str]:
        """Each merge commit's diffstat against its first parent, from one ``git log``.

        Commits git does not have are left out (a report of an old run after a history
        rewrite still renders); one process for all of them keeps a 1,000-task report fast.
        """
        shas = [c for c in commits if _SHA.fullmatch(c)]  # one object name per input line
        if not shas:
            return {}
        check = self._git("cat-file", "--batch-check", input="".join(f"{c}\n" for c in shas))
        present = [line.split()[0] for line in check.splitlines() if " commit " in line]
        if not present:
            return {}
        args = ["log", "--no-walk=unsorted", "--stdin", *_PLAIN_LOG]
        args += [*NO_DIFF_PROGRAMS, "--diff-merges=first-parent", "--stat", "--format=%x00%H"]
        out = self._git(*args, input="".join(f"{c}\n" for c in present))
        stats: dict[str, str] = {}
        for chunk in out.split("\0")[1:]:
            sha, _, stat = chunk.partition("\n")
            stats[sha.strip()] = stat.strip("\n")
        return stats

    def untracked_files(self, globs: Sequence[str], *, exclude: Sequence[str] = ()) -> list[str]:
        """Untracked (ignored too) files of the checkout matching ``globs``, not ``exclude``."""
        specs = [f":(top,glob){g}" for g in globs] + [f":(top,exclude,literal){e}" for e in exclude]
        return split_z(self._git_raw("ls-files", "--others", "-z", "--", *specs).stdout)

    def switch_files(self, cwd: Path, old: str, new: str) -> None:
        """Move the index and files of the clean checkout at ``cwd`` from commit ``old`` to
        ``new``, writing only the files that differ (refuses rather than overwrite work)."""
        self._git(*INDEX_OPTIONS, "read-tree", "-m", "-u", old, new, cwd=cwd)

    def merge_ff_only(self, rev: str, cwd: Path) -> None:
        """Fast-forward the branch checked out at ``cwd`` to ``rev`` (its files with it)."""
        self._git("merge", "--ff-only", "--quiet", rev, cwd=cwd)
