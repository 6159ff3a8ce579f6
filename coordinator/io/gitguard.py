"""During a run, every git command the coordinator makes disables the filter and merge drivers
that were defined or changed since the run started (``coordinator.core.drivers``).

Checked before each command, cheaply: the config files git reads (system, global, the
repository's, each worktree's ``config.worktree``, and every file they include) are looked at
with ``stat``; only when one of them changed is the configuration read again (one ``git config
--list``, itself run with ``SAFE_CONFIG``, so reading it runs nothing). Git reads a linked
worktree's ``config.worktree`` only while the repository's own config sets
``extensions.worktreeConfig`` (sparse checkouts do): without it the worktrees are not looked at
at all, so the check costs the same with 300 worktrees as with one. Turning it on changes the
repository's config, which is looked at, and the next check reads everything again.

The shared-state watcher undoes such a change at once; this closes the moment in between, and
covers the files it does not restore (the user's global config, a worktree's own config).
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from coordinator.core import drivers
from coordinator.errors import GitError
from coordinator.io.gitrepo import GitRepo, Overrides

Signature = tuple[tuple[str, int, int, int], ...]


class DriverGuard:
    """Call ``snapshot()`` at run start, then set ``repo.guard = guard.overrides``."""

    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo
        self._lock = threading.Lock()
        self._trusted: drivers.Definitions = {}
        self._files: list[Path] = []
        self._signature: Signature = ()
        self._overrides: Overrides = ()
        self._per_worktree = True  # whether git reads worktrees' own config (until read)

    def snapshot(self) -> None:
        """The drivers defined now are the user's: they keep running."""
        with self._lock:
            self._trusted = self._read()
            self._overrides = ()
            self._signature = self._stat()

    def overrides(self) -> Overrides:
        """The config that disables every driver not defined as at the snapshot."""
        with self._lock:
            signature = self._stat()
            if signature != self._signature:
                now = self._read()
                self._overrides = tuple(drivers.disabling(drivers.untrusted(now, self._trusted)))
                self._signature = self._stat()
            return self._overrides

    def untrusted(self) -> list[drivers.DriverKey]:
        """The drivers disabled now (for reports)."""
        with self._lock:
            return drivers.untrusted(self._read(), self._trusted)

    # ----------------------------------------------------------------- internals
    def _read(self) -> dict[drivers.DriverKey, frozenset[tuple[str, str]]]:
        entries = self.repo.config_entries()
        files = {self._origin(origin) for origin, _, _ in entries}
        self._per_worktree = _worktree_config_on(entries)
        for extra in sorted(self._worktree_configs()):
            files.add(extra)
            try:
                entries += self.repo.config_entries(extra)
            except GitError:
                # Removed since the scan (its worktree went back to the pool or away), or not
                # a config git can read: git fails in that worktree rather than run a driver
                # from it, and the file's signature still calls for a new read once it changes.
                continue
        defs = drivers.definitions((key, value) for _, key, value in entries)
        # Each worktree's file is read on its own: a driver defined only there counts too.
        self._files = sorted({*(f for f in files if f is not None), *self._candidates()})
        return defs

    def _origin(self, origin: str) -> Path | None:
        if not origin.startswith("file:"):
            return None  # "command line:" (ours), "blob:", "standard input:"
        path = Path(origin.removeprefix("file:"))
        return path if path.is_absolute() else self.repo.root / path

    def _candidates(self) -> list[Path]:
        """Files git would read if they existed: watched even while absent."""
        home = Path(os.environ.get("HOME", "/nonexistent"))
        xdg = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        found = [self.repo.git_dir / "config", self.repo.git_dir / "config.worktree",
                 xdg / "git" / "config", home / ".gitconfig",
                 Path(os.environ.get("GIT_CONFIG_GLOBAL") or home / ".gitconfig"),
                 Path(os.environ.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig")]  # fmt: skip
        if self._per_worktree:  # a new worktree may bring its own config
            found.append(self.repo.git_dir / "worktrees")
        return found

    def _worktree_configs(self) -> dict[Path, os.stat_result]:
        """Each worktree's ``config.worktree`` that exists, with its ``stat``. Looked at before
        every git command: one ``scandir`` and one ``stat`` per worktree, not a glob (several
        times slower) and then a ``stat`` again."""
        found: dict[Path, os.stat_result] = {}
        if not self._per_worktree:
            return found
        try:
            with os.scandir(self.repo.git_dir / "worktrees") as entries:
                for entry in entries:
                    if entry.is_dir():
                        path = Path(entry.path, "config.worktree")
                        with contextlib.suppress(OSError):  # gone, or unreadable: as glob
                            found[path] = os.stat(path)
        except OSError:
            return {}
        return found

    def _stat(self) -> Signature:
        out = []
        for path in self._files:
            try:
                st = os.stat(path)
            except OSError:
                out.append((str(path), -1, -1, -1))
            else:
                out.append((str(path), st.st_mtime_ns, st.st_size, st.st_ino))
        for path, st in sorted(self._worktree_configs().items()):
            out.append((str(path), st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(out)


_OFF = frozenset({"false", "no", "off", "0"})


def _worktree_config_on(entries: list[tuple[str, str, str]]) -> bool:
    """Whether git may read each worktree's ``config.worktree``: ``extensions.worktreeConfig``
    set anywhere (git honours it only in the repository's own config; counted from any file
    here, and anything but a plain false counts as on, so a value git reads as true is never
    missed)."""
    values = [v for _, key, v in entries if key.lower() == "extensions.worktreeconfig"]
    return bool(values) and values[-1].strip().lower() not in _OFF
