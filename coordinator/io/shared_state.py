"""The repository state every task shares: recorded at run start, watched, compared, put back.

Files: the repository's ``config`` and ``config.worktree``, every file under ``hooks/``, and
``info/attributes`` and ``info/exclude``. A watchdog observer sees a change as it happens and
undoes it at once; each agent's end and each merge look again (``check``), so nothing depends
on the observer being quick. A changed file is renamed into
``.git/coordinator/quarantine/<run>/<n>/`` (the exact copy the agent left, kept for the user)
and the recorded one written back.

Refs (see ``coordinator.core.shared``): the target moves only by compare-and-swap against the
value the coordinator last wrote (``move_target``), and any other value found there is kept as
``refs/coordinator/quarantine/<run>/target-<n>`` and replaced by the recorded one; the
coordinator's own refs whose value it knows are put back; the user's refs are reported.

Who is to blame is decided when a change is found, from the agents running at that moment
(``LiveAgents``): the engine fails that task with reason ``tampered``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import stat
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from coordinator.core import shared
from coordinator.core.config import Identity
from coordinator.core.refdelta import RefDelta
from coordinator.core.refs import quarantine_ref
from coordinator.errors import GitError
from coordinator.io.gitrepo import GitRepo

TOP_FILES = ("config", "config.worktree")
INFO_FILES = ("attributes", "exclude")
HOOKS = "hooks"
_READ_LIMIT = 64 * 1024 * 1024  # a larger planted file is compared by its first 64 MiB
# Changes only. Every git command opens and reads ``config``: with opens and closes-without-
# writing watched too, each one made a look at every guarded file (about 470 a second in a
# soak at --instances 8, half the coordinator's CPU).
_CHANGES: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileModifiedEvent, FileMovedEvent, FileDeletedEvent, FileClosedEvent,
    DirCreatedEvent, DirModifiedEvent, DirMovedEvent, DirDeletedEvent,
]  # fmt: skip


class LiveAgents:
    """The tasks whose agents may be running (from just before the start until their settle
    job looked at the shared state), with their isolation mode. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[str, str] = {}

    def add(self, task_id: str, mode: str) -> None:
        with self._lock:
            self._live[task_id] = mode

    def discard(self, task_id: str) -> None:
        with self._lock:
            self._live.pop(task_id, None)

    def now(self) -> dict[str, str]:
        with self._lock:
            return dict(self._live)


@dataclass(frozen=True)
class Finding:
    """One thing found changed and what was done. ``undone`` means put back already."""

    what: str  # "files", "target", "refs", "user-refs", "clone"
    message: str
    undone: bool
    suspects: tuple[str, ...] = ()
    blamed: str | None = None
    commands: tuple[str, ...] = ()  # for the user: how to put back what was not undone


@dataclass(frozen=True)
class SharedChanged:
    """The watcher found (and undid) changes: an event for the engine's loop to report."""

    findings: tuple[Finding, ...]


def read_files(git_dir: Path) -> dict[str, tuple[shared.FileState, bytes | None]]:
    """The guarded files under ``git_dir``: path -> (state to compare, content to restore)."""
    found: dict[str, tuple[shared.FileState, bytes | None]] = {}
    names = [*TOP_FILES, *(f"info/{n}" for n in INFO_FILES)]
    hooks = git_dir / HOOKS
    if hooks.is_dir() and not hooks.is_symlink():
        for top, dirs, files in os.walk(hooks):
            for name in [*files, *(d for d in dirs if (Path(top) / d).is_symlink())]:
                names.append((Path(top) / name).relative_to(git_dir).as_posix())
    elif os.path.lexists(hooks):
        names.append(HOOKS)
    for name in names:
        entry = _read(git_dir / name)
        if entry is not None:
            found[name] = entry
    return found


def _read(path: Path) -> tuple[shared.FileState, bytes | None] | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(info.st_mode):
        target = os.fsencode(os.readlink(path))
        return (b"link:" + target, info.st_mode), None
    if not stat.S_ISREG(info.st_mode):
        return (b"kind:" + str(stat.S_IFMT(info.st_mode)).encode(), info.st_mode), None
    digest = hashlib.sha256()
    kept = b""
    try:  # no waiting on a FIFO swapped in since lstat, no following a link
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return (b"unreadable", info.st_mode), None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return (b"kind-changed", info.st_mode), None
    with os.fdopen(fd, "rb") as fh, contextlib.suppress(OSError):
        kept = fh.read(_READ_LIMIT)
    digest.update(kept)
    small = kept if len(kept) < _READ_LIMIT else None
    return (digest.digest(), stat.S_IMODE(info.st_mode)), small


class SharedState:
    """One run's record of the shared state and the doors that guard it (thread-safe)."""

    def __init__(
        self, repo: GitRepo, *, run_id: str, target_ref: str, quarantine: Path, live: LiveAgents
    ) -> None:
        self.repo = repo
        self.run_id = run_id
        self.target_ref = target_ref
        self.quarantine = quarantine
        self.live = live
        # Held while comparing and putting back, never while reading refs (see ``_check_refs``):
        # the loop asks for the target and the blame often, and must not wait for a look.
        self._lock = threading.RLock()
        self._blame_lock = threading.Lock()
        self._files: dict[str, tuple[shared.FileState, bytes | None]] = {}
        self._refs: dict[str, str] = {}
        self._delta = RefDelta("")  # what each look compares: what changed since the last
        self._target = ""
        self._moves = 0  # target moves tried: a look that read refs meanwhile reads them again
        self._seen_user: dict[str, str | None] = {}  # user ref -> value already reported
        self._blame: dict[str, list[str]] = {}
        self._n = 0
        self._observer: BaseObserver | None = None

    # ------------------------------------------------------------------ record
    def snapshot(self) -> None:
        with self._lock:
            self._files = read_files(self.repo.git_dir)
            self._delta = RefDelta(self.repo.refs_listing())
            self._refs = self._delta.refs()
            self._target = self._refs.get(self.target_ref) or ""

    @property
    def expected_target(self) -> str:
        """The value the coordinator last wrote to the target (what every task builds on).
        Read without the lock (one attribute: always a whole value), so it never waits."""
        return self._target

    def move_target(self, new: str, old: str, message: str, identity: Identity) -> bool:
        """Compare-and-swap the target from the recorded value; False when it was not there."""
        with self._lock:
            if old != self._target:
                return False
            try:
                moved = self.repo.update_ref(
                    self.target_ref, new, old, message=message, identity=identity
                )
            finally:
                self._moves += 1
            if moved:
                self._target = new
            return moved

    def blame_of(self, task_id: str) -> list[str]:
        """What was pinned on ``task_id`` so far (empty: nothing)."""
        with self._blame_lock:
            return list(self._blame.get(task_id, ()))

    def blame(self, task_id: str, what: str) -> None:
        with self._blame_lock:
            self._blame.setdefault(task_id, []).append(what)

    # ------------------------------------------------------------------- check
    def check(self, at_rest: Mapping[str, str], task_refs: Collection[str]) -> list[Finding]:
        """Look at files and refs now; put back what is the coordinator's to put back."""
        return [*self.check_files(), *self._check_refs(at_rest, task_refs)]

    def check_files(self) -> list[Finding]:
        with self._lock:
            now = read_files(self.repo.git_dir)
            before = {path: state for path, (state, _) in self._files.items()}
            after = {path: state for path, (state, _) in now.items()}
            changed = shared.file_changes(before, after)
            if not changed:
                return []
            live = self.live.now()
            place = self._next_quarantine()
            said = [shared.describe_file(p, before.get(p), after.get(p)) for p in changed]
            for path in sorted(changed, key=lambda p: p.count("/")):  # a swapped dir first
                self._put_back(path, place)
            blamed = shared.to_blame(live)
            message = "; ".join(said)
            if blamed:
                self.blame(blamed, message)
            root = self.repo.git_dir.parent
            where = place.relative_to(root) if place.is_relative_to(root) else place
            kept = f" (the changed copies are in {where})" if place.exists() else ""
            return [Finding("files", f"{message}{kept}", True, tuple(shared.suspects(live)),
                            blamed)]  # fmt: skip

    def _check_refs(self, at_rest: Mapping[str, str], task_refs: Collection[str]) -> list[Finding]:
        """The refs are read outside the lock, then compared under it, unless the coordinator
        moved the target meanwhile (what was read may predate its own move): then read again,
        the third time under the lock."""
        for _ in range(2):
            moves = self._moves
            listing = self.repo.refs_listing()
            with self._lock:
                if moves == self._moves:
                    return self._compare_refs(listing, at_rest, task_refs)
        with self._lock:
            return self._compare_refs(self.repo.refs_listing(), at_rest, task_refs)

    def _compare_refs(self, listing: str, at_rest: Mapping[str, str],
                      task_refs: Collection[str]) -> list[Finding]:  # fmt: skip
        """Only the refs that changed since the last look are compared (``RefDelta``): the
        others would give the same answer as then."""
        delta = self._delta.look(listing, at_rest, (self.target_ref,))
        wanted = {r: at_rest[r] for r in delta.relevant if r in at_rest}
        start = {r: self._refs[r] for r in delta.relevant if r in self._refs}
        plan = shared.plan_refs(
            start, delta.now, target=(self.target_ref, self._target), at_rest=wanted,
            task_refs=task_refs,
        )  # fmt: skip
        live = self.live.now()
        blamed = shared.to_blame(live)
        found, again = [], []
        for ref, change in plan.restore.items():
            found.append(self._restore_ref(change, live, blamed))
            if not found[-1].undone:
                again.append(ref)
        self._delta.again(again)
        user = [c for c in plan.user if self._seen_user.get(c.ref, c.before) != c.after]
        for change in user:
            self._seen_user[change.ref] = change.after
        if user:
            text = "; ".join(c.describe() for c in user)
            found.append(Finding(
                "user-refs", f"{text} during the run; not undone (you may have done it)", False,
                tuple(shared.suspects(live)), None, tuple(c.restore_command() for c in user),
            ))  # fmt: skip
        return found

    def _restore_ref(self, change: shared.RefChange, live: dict[str, str],
                     blamed: str | None) -> Finding:  # fmt: skip
        wanted, current = change.before, change.after
        kept = ""
        if change.ref == self.target_ref and current is not None:
            self._n += 1
            aside = quarantine_ref(self.run_id, self._n)
            with contextlib.suppress(GitError):
                if self.repo.update_ref(aside, current, None, message="coordinator: quarantine"):
                    kept = f"; the value found there is kept as {aside}"
        undone = False
        if wanted is not None:
            try:
                undone = self.repo.update_ref(change.ref, wanted, current,
                                              message="coordinator: restore")  # fmt: skip
            except GitError as exc:
                kept += f"; could not restore it: {str(exc).splitlines()[-1]}"
        what = "target" if change.ref == self.target_ref else "refs"
        text = (f"{shared.RefChange(change.ref, wanted, current).describe()} by someone else; "
                f"{'restored' if undone else 'NOT restored'}{kept}")  # fmt: skip
        if blamed:
            self.blame(blamed, text)
        return Finding(what, text, undone, tuple(shared.suspects(live)), blamed)

    # ------------------------------------------------------------------ files
    def _next_quarantine(self) -> Path:
        self._n += 1
        return self.quarantine / self.run_id / str(self._n)

    def _put_back(self, path: str, place: Path) -> None:
        live = self.repo.git_dir / path
        real_parent = Path(os.path.realpath(self.repo.git_dir)).joinpath(*path.split("/")[:-1])
        if os.path.lexists(live.parent) and os.path.realpath(live.parent) != str(real_parent):
            return  # a directory on the way became a link: never act through it (next look)
        original = self._files.get(path)
        if os.path.lexists(live):
            aside = place / path
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.replace(live, aside)  # the exact copy, kept; a rename costs no disk
        if original is None:
            return
        (state, mode), content = original
        live.parent.mkdir(parents=True, exist_ok=True)
        if state.startswith(b"link:"):
            os.symlink(os.fsdecode(state.removeprefix(b"link:")), live)
            return
        tmp = live.with_name(f".{live.name}.coordinator-restore")
        tmp.write_bytes(content or b"")
        os.chmod(tmp, mode)
        os.replace(tmp, live)

    # ---------------------------------------------------------------- watching
    def watch(self, events: queue.SimpleQueue[object]) -> None:
        """Start undoing file changes the moment they happen; each becomes a ``SharedChanged``."""
        handler = _Handler(self, events.put)
        observer = Observer()
        git_dir = self.repo.git_dir
        observer.schedule(handler, str(git_dir), recursive=False, event_filter=_CHANGES)
        for sub, recursive in ((git_dir / HOOKS, True), (git_dir / "info", False)):
            if sub.is_dir() and not sub.is_symlink():
                observer.schedule(handler, str(sub), recursive=recursive, event_filter=_CHANGES)
                handler.watched.add(sub.name)
        observer.start()
        self._observer = observer

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join()


@dataclass
class _Handler(FileSystemEventHandler):
    state: SharedState
    put: Callable[[object], None]
    watched: set[str] = field(default_factory=set)

    def __hash__(self) -> int:  # watchdog keeps handlers in sets
        return id(self)

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = [event.src_path, getattr(event, "dest_path", "") or ""]
        tops = {self._top(Path(os.fsdecode(p))) for p in paths if p}
        if not tops & {*TOP_FILES, HOOKS, "info"}:
            return  # git's own files (index, HEAD, refs, locks): not guarded here
        try:
            found = self.state.check_files()
        except OSError as exc:  # the next look (an agent's end, a merge) tries again
            found = [Finding("files", f"could not put the shared files back yet: {exc}", False)]
        if found:
            self.put(SharedChanged(tuple(found)))

    def _top(self, path: Path) -> str:
        git_dir = self.state.repo.git_dir
        rel = path.relative_to(git_dir).as_posix() if path.is_relative_to(git_dir) else ""
        top = rel.partition("/")[0]
        if top in (HOOKS, "info") and top not in self.watched and rel == top:
            observer = self.state._observer
            if observer is not None and path.is_dir() and not path.is_symlink():
                self.watched.add(top)  # created during the run: watch it from now on
                observer.schedule(self, str(path), recursive=top == HOOKS, event_filter=_CHANGES)
        return top
