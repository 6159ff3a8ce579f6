"""Seeded DAG families for ``scripts/bench schedule``, plus one replayed from git history.

Each generator returns plain data (``Instance``), not a ``Plan``: the benchmark builds plans
through the real planner so that what is measured is what ``coordinator plan`` would do. Every
instance is a pure function of (family, index, size), so a figure can be reproduced exactly.
Durations are in minutes; only their ratios matter.
"""

from __future__ import annotations

import math
import random
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CODER = "coder"
REVIEWER = "reviewer"


@dataclass(frozen=True)
class Instance:
    """One scheduling problem: tasks in spec order, their dependencies, files and durations.

    ``durations`` are the true lengths the simulated run uses; the estimates a plan is built
    from are these or a noisy copy. ``singleton`` names an agent type capped at one instance
    (the rest of the types may use every slot but one); None means no caps at all.
    """

    family: str
    index: int
    ids: tuple[str, ...]
    deps: dict[str, tuple[str, ...]]
    files: dict[str, tuple[str, ...]]
    durations: dict[str, float]
    agents: dict[str, str] = field(default_factory=dict)
    singleton: str | None = None

    def agent(self, task_id: str) -> str:
        return self.agents.get(task_id, CODER)

    def caps(self, instances: int) -> dict[str, int]:
        """Per-type caps at ``instances`` slots: the singleton type 1, the others one less."""
        if self.singleton is None:
            return {}
        others = {self.agent(t) for t in self.ids} - {self.singleton}
        return {self.singleton: 1, **dict.fromkeys(others, max(1, instances - 1))}


def _rng(family: str, index: int) -> random.Random:
    return random.Random(f"{family}/{index}")  # noqa: S311 - reproducible, not a secret


def _own_files(ids: list[str]) -> dict[str, tuple[str, ...]]:
    """One private file per task: no footprint conflicts at all."""
    return {t: (f"src/{t}.py",) for t in ids}


def _heavy(rng: random.Random) -> float:
    """Heavy-tailed duration: lognormal around 15 minutes with sigma 1, clipped to [1, 240]."""
    return min(240.0, max(1.0, 15.0 * math.exp(rng.gauss(0.0, 1.0))))


def independent(index: int, scale: float = 1.0) -> Instance:
    """25-40 tasks with no dependencies and no shared files; lognormal durations."""
    rng = _rng("independent", index)
    n = max(4, round(rng.randint(25, 40) * scale))
    ids = [f"t{i:03d}" for i in range(n)]
    durations = {t: min(240.0, max(1.0, 20.0 * math.exp(rng.gauss(0.0, 0.8)))) for t in ids}
    return Instance(
        "independent", index, tuple(ids), {t: () for t in ids}, _own_files(ids), durations
    )


def fan(index: int, scale: float = 1.0) -> Instance:
    """2-3 stages of root -> 4-12 parallel tasks -> join, the join being the next root."""
    rng = _rng("fan", index)
    ids: list[str] = []
    deps: dict[str, tuple[str, ...]] = {}
    durations: dict[str, float] = {}
    root = "root0"
    ids.append(root)
    deps[root] = ()
    durations[root] = rng.uniform(10, 30)
    for stage in range(rng.randint(2, 3)):
        width = max(2, round(rng.randint(4, 12) * scale))
        fanned = [f"s{stage}f{i:02d}" for i in range(width)]
        for t in fanned:
            ids.append(t)
            deps[t] = (root,)
            durations[t] = rng.uniform(5, 30)
        root = f"join{stage}"
        ids.append(root)
        deps[root] = tuple(fanned)
        durations[root] = rng.uniform(10, 30)
    return Instance("fan", index, tuple(ids), deps, _own_files(ids), durations)


def chains(index: int, scale: float = 1.0) -> Instance:
    """4-6 parallel chains of 5-8 tasks; each step may also wait on the step before it in
    another chain (probability 0.2), as when one feature needs another's interface."""
    rng = _rng("chains", index)
    k = rng.randint(4, 6)
    length = max(2, round(rng.randint(5, 8) * scale))
    ids: list[str] = []
    deps: dict[str, tuple[str, ...]] = {}
    for j in range(length):  # spec order: step by step, as a plan written by hand would be
        for c in range(k):
            t = f"c{c}s{j}"
            ids.append(t)
            before = [f"c{c}s{j - 1}"] if j else []
            if j and rng.random() < 0.2:
                before.append(f"c{rng.choice([x for x in range(k) if x != c])}s{j - 1}")
            deps[t] = tuple(before)
    durations = {t: rng.uniform(5, 30) for t in ids}
    return Instance("chains", index, tuple(ids), deps, _own_files(ids), durations)


def _layered(
    family: str, index: int, scale: float, files: Callable[[random.Random, str], tuple[str, ...]]
) -> tuple[
    random.Random,
    list[str],
    dict[str, tuple[str, ...]],
    dict[str, tuple[str, ...]],
    dict[str, float],
]:
    """A random layered DAG: 5-8 layers of 3-10 tasks, each needing 1-3 of earlier layers'."""
    rng = _rng(family, index)
    layers: list[list[str]] = []
    deps: dict[str, tuple[str, ...]] = {}
    for depth in range(rng.randint(5, 8)):
        width = max(1, round(rng.randint(3, 10) * scale))
        layer = [f"l{depth}t{i:02d}" for i in range(width)]
        for t in layer:
            if layers:
                pool = layers[-1] + (layers[-2] if len(layers) > 1 else [])
                deps[t] = tuple(sorted(set(rng.sample(pool, min(len(pool), rng.randint(1, 3))))))
            else:
                deps[t] = ()
        layers.append(layer)
    ids = [t for layer in layers for t in layer]
    return rng, ids, deps, {t: files(rng, t) for t in ids}, {t: _heavy(rng) for t in ids}


def layered(index: int, scale: float = 1.0) -> Instance:
    """Random layered DAG, heavy-tailed durations, 1-2 files each out of 400 (rare conflicts)."""

    def files(rng: random.Random, _: str) -> tuple[str, ...]:
        return tuple(sorted({f"src/m{rng.randrange(400)}.py" for _ in range(rng.randint(1, 2))}))

    _, ids, deps, touched, durations = _layered("layered", index, scale, files)
    return Instance("layered", index, tuple(ids), deps, touched, durations)


def conflicts(index: int, scale: float = 1.0) -> Instance:
    """The layered DAG with many conflicts: 2 files each out of 11, so about a third of the
    pairs of tasks (in a layer or not) share a file (1 - C(9,2)/C(11,2) = 0.35)."""

    def files(rng: random.Random, _: str) -> tuple[str, ...]:
        return tuple(sorted(f"src/hot{i}.py" for i in rng.sample(range(11), 2)))

    _, ids, deps, touched, durations = _layered("conflicts", index, scale, files)
    return Instance("conflicts", index, tuple(ids), deps, touched, durations)


def typed(index: int, scale: float = 1.0) -> Instance:
    """The layered DAG with two agent types: a third are reviews, a type capped at one."""

    def files(rng: random.Random, _: str) -> tuple[str, ...]:
        return tuple(sorted({f"src/m{rng.randrange(400)}.py" for _ in range(rng.randint(1, 2))}))

    rng, ids, deps, touched, durations = _layered("typed", index, scale, files)
    agents = {t: REVIEWER if rng.random() < 1 / 3 else CODER for t in ids}
    return Instance("typed", index, tuple(ids), deps, touched, durations, agents, REVIEWER)


GENERATED: dict[str, Callable[[int, float], Instance]] = {
    "independent": independent,
    "fan": fan,
    "chains": chains,
    "layered": layered,
    "conflicts": conflicts,
    "typed": typed,
}


# --------------------------------------------------------------------------- git history
@dataclass(frozen=True)
class Commit:
    sha: str
    files: tuple[str, ...]
    lines: int


def read_history(repo: Path, most: int) -> list[Commit]:
    """The newest ``most`` first-parent commits with the files they changed, oldest first.

    Merges count as their diff against the first parent (what landing the branch changed);
    renames are split into a delete and an add so that both paths count as touched. Commits
    that change no file are dropped: they would be tasks with an unknown footprint. Raises
    ``RuntimeError`` when ``repo`` is no git repository.
    """
    done = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "core.quotePath=false",
            "log",
            "--first-parent",
            "--diff-merges=first-parent",
            "--no-renames",
            "--numstat",
            "--format=%x00%H",
            f"-n{most}",
        ],
        check=False,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    if done.returncode != 0:
        raise RuntimeError(f"git log in {repo} failed: {done.stderr.strip()}")
    out = done.stdout
    commits: list[Commit] = []
    for block in out.split("\0")[1:]:
        lines = block.strip("\n").split("\n")
        files: list[str] = []
        changed = 0
        for row in lines[1:]:
            parts = row.split("\t")
            if len(parts) == 3:
                added, deleted, path = parts
                changed += (int(added) if added.isdigit() else 1) + (
                    int(deleted) if deleted.isdigit() else 1
                )
                files.append(path)
        if files:
            commits.append(Commit(lines[0].strip(), tuple(dict.fromkeys(files)), changed))
    return commits[::-1]


def history_instances(
    repo: Path, count: int = 20, window: int = 30, minimum: int = 10
) -> list[Instance]:
    """Up to ``count`` windows of consecutive commits, each replayed as a plan.

    Task = commit, footprint = files changed, dependency = the latest earlier commit of the
    window touching one of the same files, duration = 10 + 2 * sqrt(lines changed) minutes.
    Windows slide by one commit from the newest; a short history gets smaller windows (down to
    ``minimum`` commits) and, if it is shorter still, fewer instances, never padded ones.
    """
    commits = read_history(repo, window + count - 1)
    size = min(window, max(minimum, len(commits) - count + 1), len(commits))
    instances: list[Instance] = []
    for i in range(min(count, len(commits) - size + 1)):
        chunk = commits[len(commits) - size - i : len(commits) - i]
        ids: list[str] = []
        deps: dict[str, tuple[str, ...]] = {}
        files: dict[str, tuple[str, ...]] = {}
        durations: dict[str, float] = {}
        last_touch: dict[str, str] = {}
        for position, commit in enumerate(chunk):
            task_id = f"c{position:02d}-{commit.sha[:8]}"
            ids.append(task_id)
            deps[task_id] = tuple(
                dict.fromkeys(last_touch[f] for f in commit.files if f in last_touch)
            )
            files[task_id] = commit.files
            durations[task_id] = 10.0 + 2.0 * math.sqrt(commit.lines)
            for path in commit.files:
                last_touch[path] = task_id
        instances.append(Instance("git", i, tuple(ids), deps, files, durations))
    return instances
