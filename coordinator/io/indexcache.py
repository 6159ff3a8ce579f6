"""The repository index of the inferred footprint sources, built once per base commit and cached.

Layout under ``.git/coordinator/index/`` (never in a commit, shared by every worktree):

* ``facts.sqlite``: what each file says (``symbols.FileFacts``), keyed by *blob id*. Facts depend
  only on content, so a new base commit re-reads only the blobs it changed: the index is
  rebuilt incrementally.
* ``<base sha>/``: the assembled index of one base commit, ``state.json`` (definitions,
  strings, mined history) plus the two BM25 engines as ``bm25s`` saves them (JSON and numpy
  arrays, loaded with ``allow_pickle=False``: nothing in the cache can run code). A warm
  ``plan`` only loads this directory. The newest few bases are kept.

History is mined incrementally as well: a new base whose first-parent history contains a
cached base's only reads the commits in between. The coordinator's own past runs (which files
each task changed, and what each agent type changes beyond its prediction) are read from the
state store each time: it is small and changes with every run.

The cache is an optimisation only: an unwritable or damaged cache is rebuilt or skipped, and
``plan`` works the same without it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
from collections import defaultdict
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any, Final

from coordinator.core.cochange import habits
from coordinator.core.config import Config
from coordinator.core.models import TaskSpec
from coordinator.core.prediction import Predictor
from coordinator.core.repoindex import RepoIndex
from coordinator.core.retrieval import Ranker
from coordinator.core.symbols import MAX_TEXT, FileFacts, extract
from coordinator.errors import CoordinatorError
from coordinator.io.gitdata import Change
from coordinator.io.gitrepo import GitRepo
from coordinator.io.runfiles import state_dir, store_path
from coordinator.io.store import Store

log = logging.getLogger(__name__)

HISTORY_DEPTH: Final = 1000  # default first-parent commits mined for co-changes
KEEP_BASES: Final = 3
_MERGED_STATES: Final = frozenset({"merged", "done"})


def index_dir(git_dir: Path) -> Path:
    return state_dir(git_dir) / "index"


def needs_index(specs: Sequence[TaskSpec], config: Config) -> bool:
    """Is any inferred source switched on for a task that infers?"""
    predict = config.predict
    if not (predict.symbols or predict.retrieval or predict.history):
        return False
    return any((s.footprint_mode or config.footprint) == "infer" for s in specs)


def load_predictor(git: GitRepo, base: str | None, config: Config) -> Predictor | None:
    """The predictor for ``base`` (None for an unborn repository), from the cache when there."""
    if base is None:
        return None
    depth = config.predict.history_depth if config.predict.history else 0
    index = _cached(git, base, depth) or _build(git, base, depth)
    index.runs, index.habits = _past_runs(git.git_dir)
    return Predictor(index, config.predict.settings())


# ------------------------------------------------------------------------------ warm path
def _cached(git: GitRepo, base: str, depth: int) -> RepoIndex | None:
    """The index saved for ``base``, or None when missing, of another depth, or damaged."""
    folder = index_dir(git.git_dir) / base
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        if state.get("depth") != depth:
            return None
        ranker = Ranker.from_engine(state["paths"], _load_engine(folder / "files"))
        keys = [str(i) for i in range(len(state["messages"]))]
        past = Ranker.from_engine(keys, _load_engine(folder / "past")) if keys else None
        return RepoIndex.from_state(state, ranker, past)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        log.warning("index cache %s unusable, rebuilding: %s", folder, exc)
        return None


def _load_engine(folder: Path) -> Any:
    import bm25s  # noqa: PLC0415 - numpy and bm25s load only when inference runs

    return bm25s.BM25.load(folder, allow_pickle=False, show_progress=False, verbosity=0)


# ------------------------------------------------------------------------------ cold path
def _build(git: GitRepo, base: str, depth: int) -> RepoIndex:
    blobs = git.tree_blobs(base)
    root = index_dir(git.git_dir)
    facts = _facts(git, blobs, root / "facts.sqlite")
    changes = _history(git, base, depth)
    index = RepoIndex.from_facts(
        sorted(blobs),
        facts,
        shas=[c.sha for c in changes],
        changes=[c.files for c in changes],
        messages=[c.message for c in changes],
        renames=[c.renames for c in changes],
    )
    _save(root, base, depth, index)
    return index


def facts_for(
    git: GitRepo, blobs: Mapping[str, str], cache: MutableMapping[str, FileFacts]
) -> dict[str, FileFacts]:
    """Facts of every file (path -> blob id), extracting only blobs not in ``cache``."""
    missing = sorted({b for b in blobs.values() if b not in cache})
    contents = git.read_blobs(missing, MAX_TEXT)
    by_blob = {b: p for p, b in blobs.items()}
    for blob in missing:
        data = contents.get(blob)
        text = data.decode("utf-8", "replace") if data is not None else ""
        cache[blob] = extract(by_blob[blob], text) if text else FileFacts()
    return {path: cache[blob] for path, blob in blobs.items()}


def _facts(git: GitRepo, blobs: Mapping[str, str], db_path: Path) -> dict[str, FileFacts]:
    """``facts_for`` with the per-blob cache in SQLite (skipped when it cannot be opened)."""
    known: dict[str, FileFacts] = {}
    con = _open_facts(db_path)
    if con is None:
        return facts_for(git, blobs, known)
    try:
        wanted = sorted(set(blobs.values()))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = con.execute(f"SELECT blob, data FROM facts WHERE blob IN ({marks})", chunk)  # noqa: S608 - only placeholders
            for blob, data in rows:
                try:
                    known[blob] = FileFacts.from_json(json.loads(data))
                except (ValueError, TypeError, AssertionError, IndexError):
                    continue
        before = set(known)
        facts = facts_for(git, blobs, known)
        new = [(b, json.dumps(f.to_json())) for b, f in known.items() if b not in before]
        with con:
            con.executemany("INSERT OR REPLACE INTO facts VALUES (?, ?)", new)
        return facts
    except sqlite3.Error as exc:
        log.warning("facts cache %s unusable: %s", db_path, exc)
        return facts_for(git, blobs, known)
    finally:
        con.close()


def _open_facts(path: Path) -> sqlite3.Connection | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(path, timeout=5)
        con.execute("CREATE TABLE IF NOT EXISTS facts (blob TEXT PRIMARY KEY, data TEXT NOT NULL)")
    except (OSError, sqlite3.Error) as exc:
        log.warning("facts cache %s unusable: %s", path, exc)
        return None
    return con


def _history(git: GitRepo, base: str, depth: int) -> list[Change]:
    """The newest ``depth`` first-parent changes of ``base``, reusing a cached base's history
    when ``base`` descends from it (only the commits in between are read)."""
    if depth <= 0:
        return []
    for older, state in _cached_states(index_dir(git.git_dir)):
        if state.get("depth") == depth and git.is_ancestor(older, base):
            newer = git.first_parent_changes(f"{older}..{base}", depth)
            if len(newer) >= depth:
                return newer
            kept = [
                Change(sha, message, tuple(files), tuple((r[0], r[1]) for r in renames))
                for sha, message, files, renames in zip(
                    state["shas"],
                    state["messages"],
                    state["changes"],
                    state["renames"],
                    strict=True,
                )
            ]
            return [*newer, *kept][:depth]
    return git.first_parent_changes(base, depth)


def _cached_states(root: Path) -> list[tuple[str, dict[str, Any]]]:
    """Saved bases with their state, newest first (unreadable ones are skipped)."""
    found: list[tuple[float, str, dict[str, Any]]] = []
    try:
        folders = [p for p in root.iterdir() if p.is_dir() and len(p.name) in (40, 64)]
    except OSError:
        return []
    for folder in folders:
        try:
            state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
            found.append((folder.stat().st_mtime, folder.name, state))
        except (OSError, ValueError):
            continue
    found.sort(reverse=True)
    return [(name, state) for _, name, state in found]


def _save(root: Path, base: str, depth: int, index: RepoIndex) -> None:
    """Write the base's directory atomically (a temporary directory renamed into place)."""
    target = root / base
    temporary = root / f".{base}.{os.getpid()}.tmp"
    try:
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
        index.ranker.engine.save(temporary / "files", show_progress=False)
        if index.messages:
            index.past.engine.save(temporary / "past", show_progress=False)
        state = {**index.state(), "depth": depth}
        (temporary / "state.json").write_text(json.dumps(state), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        temporary.rename(target)
    except OSError as exc:
        log.warning("index cache not written under %s: %s", root, exc)
        shutil.rmtree(temporary, ignore_errors=True)
        return
    for name, _ in _cached_states(root)[KEEP_BASES:]:
        shutil.rmtree(root / name, ignore_errors=True)


# ------------------------------------------------------------------------------ past runs
def _past_runs(git_dir: Path) -> tuple[list[list[str]], dict[str, dict[str, float]]]:
    """Files each merged task of past runs changed, and each agent type's habits."""
    db = store_path(git_dir)
    if not db.is_file():
        return [], {}
    runs: list[list[str]] = []
    by_agent: dict[str, list[tuple[list[str], list[str]]]] = defaultdict(list)
    try:
        with Store.open_readonly(db) as store:
            for run_id in reversed(store.run_ids()):
                for task in store.tasks(run_id):
                    if task.state in _MERGED_STATES and task.changed_files:
                        runs.append(task.changed_files)
                        by_agent[task.agent or ""].append(
                            (task.predicted_files, task.changed_files)
                        )
    except (CoordinatorError, sqlite3.Error) as exc:
        log.warning("past runs not read: %s", exc)
        return [], {}
    return runs, {agent: habits(tasks) for agent, tasks in by_agent.items()}
