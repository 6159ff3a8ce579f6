"""``scripts/bench predict --repo PATH [--changes N]``: how well footprints are predicted.

Each of the repository's last N first-parent changes becomes a spec whose body is the change's
message (no declared files). The repository index is built at the change's parent, from the
files and the history the change's author had (never from the change itself), then each
configuration predicts a footprint, compared with the files the change really touched:

* recall: the share of a change's files its prediction covers (mean over changes);
* precision: the share of predicted files (patterns expanded at the parent) that changed;
* size: mean predicted files against mean true files; empty: predictions with no path;
* safety: of the pairs of changes that truly share a file, the share whose predictions overlap
  (a pair that does not would have run side by side and met in a merge conflict);
* speedup: the simulated schedule of all N tasks (60 s each, no dependencies) at 3 instances
  with the predicted footprints, sequential time / makespan.

The same rows are printed for each source alone and for the declared-files baseline, where a
change's non-test, non-doc files are declared (what a spec writer usually lists), alone and
with history ``[H]``: how much of the rest does history recover?
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.common import markdown_table, mean
from coordinator.core.cochange import is_source
from coordinator.core.config import AgentConfig, Config
from coordinator.core.footprint import RepoPaths, footprints_overlap, matches
from coordinator.core.inference import Settings
from coordinator.core.models import Footprint, FootprintMode, TaskSpec
from coordinator.core.planner import build_plan
from coordinator.core.prediction import Predictor, predict
from coordinator.core.repoindex import RepoIndex
from coordinator.core.simulate import simulate
from coordinator.core.symbols import FileFacts
from coordinator.io.gitdata import Change
from coordinator.io.gitrepo import GitRepo
from coordinator.io.indexcache import HISTORY_DEPTH, facts_for

INSTANCES = 3
TASK_SECONDS = 60.0


def is_test_or_doc(path: str) -> bool:
    """Tests, docs, examples and prose (a changelog): what spec writers usually leave out of
    ``files:``; the same reading as the predictor's (``cochange.is_source``)."""
    return not is_source(path)


@dataclass(frozen=True)
class Case:
    change: Change
    repo: RepoPaths
    index: RepoIndex


@dataclass(frozen=True)
class Row:
    """One row: how the spec is written and which prediction runs."""

    name: str
    mode: FootprintMode
    settings: Settings | None
    declared: bool = False


def configurations() -> list[Row]:
    off = Settings(symbols=False, retrieval=False, history=False)
    full = Settings()
    return [
        Row("mentioned (before)", "mentioned", None),
        Row("[M] alone", "infer", None),
        Row("[S] alone", "infer", replace(off, symbols=True)),
        Row("[R] alone", "infer", replace(off, retrieval=True)),
        Row("[M]+[H]", "infer", replace(off, history=True)),
        Row("[M]+[S]+[R]", "infer", replace(full, history=False)),
        Row("infer (all)", "infer", full),
        Row("declared baseline", "declared", None, declared=True),
        Row("declared + [H]", "infer", replace(off, history=True), declared=True),
        Row("declared + all", "infer", full, declared=True),
    ]


def read_cases(path: Path, count: int, depth: int = HISTORY_DEPTH) -> list[Case]:
    """The newest ``count`` first-parent changes with the index at each one's parent."""
    cases: list[Case] = []
    cache: dict[str, FileFacts] = {}
    with GitRepo.discover(path) as git:
        changes = git.first_parent_changes("HEAD", count + depth + 1)
        for i, change in enumerate(changes):
            if len(cases) == count or i + 1 >= len(changes):
                break
            if not change.files:
                continue
            parent = changes[i + 1].sha
            blobs = git.tree_blobs(parent)
            facts = facts_for(git, blobs, cache)
            past = changes[i + 1 : i + 1 + depth]
            paths = tuple(sorted(blobs))
            index = RepoIndex.from_facts(
                paths,
                facts,
                changes=[c.files for c in past],
                messages=[c.message for c in past],
                renames=[c.renames for c in past],
            )
            cases.append(Case(change, RepoPaths.from_files(paths), index))
    return cases


def predicted(case: Case, row: Row) -> Footprint:
    files = tuple(f for f in case.change.files if not is_test_or_doc(f)) if row.declared else ()
    spec = TaskSpec(
        id="t", agent="coder", body=case.change.message, source="specs/t.md", order=0, files=files
    )
    predictor = None if row.settings is None else Predictor(case.index, row.settings)
    footprint, _ = predict(spec, case.repo, mode=row.mode, predictor=predictor)
    return footprint


def measure(cases: Sequence[Case], row: Row) -> dict[str, float]:
    recalls: list[float] = []
    precisions: list[float] = []
    sizes: list[float] = []
    true_sizes: list[float] = []
    empty = 0
    footprints: list[Footprint] = []
    for case in cases:
        fp = predicted(case, row)
        footprints.append(fp)
        truth = set(case.change.files)
        patterns = fp.patterns
        if not patterns:
            empty += 1
        covered = {f for f in truth if any(matches(p, f) for p in patterns)}
        recalls.append(len(covered) / len(truth))
        expanded: set[str] = set()
        for p in patterns:
            expanded.update(case.repo.expand(p) or (p,))
        sizes.append(len(expanded))
        true_sizes.append(len(truth))
        if expanded:
            precisions.append(len(expanded & truth) / len(expanded))
    safety = _safety(cases, footprints)
    return {
        "recall": mean(recalls),
        "precision": mean(precisions),
        "predicted_size": mean(sizes),
        "true_size": mean(true_sizes),
        "size_ratio": mean(sizes) / mean(true_sizes),
        "empty": float(empty),
        "safety": safety,
        "speedup": _speedup(cases, footprints),
    }


def _safety(cases: Sequence[Case], footprints: Sequence[Footprint]) -> float:
    sharing = overlapping = 0
    repo = cases[0].repo
    for i, j in itertools.combinations(range(len(cases)), 2):
        if set(cases[i].change.files) & set(cases[j].change.files):
            sharing += 1
            a = _as_run(footprints[i])
            b = _as_run(footprints[j])
            overlapping += footprints_overlap(a, b, repo)
    return overlapping / sharing if sharing else 1.0


def _as_run(footprint: Footprint) -> Footprint:
    """An empty prediction runs alone (``unknown_footprint = "exclusive"``, the default)."""
    return footprint if footprint.patterns else Footprint(exclusive=True)


def _speedup(cases: Sequence[Case], footprints: Sequence[Footprint]) -> float:
    config = Config(agents={"coder": AgentConfig(command=["true"])}, footprint="declared")
    specs = [
        TaskSpec(
            id=f"c{i:04d}",
            agent="coder",
            body="",
            source=f"specs/c{i:04d}.md",
            order=i,
            files=fp.patterns,
            estimate=TASK_SECONDS,
        )
        for i, fp in enumerate(footprints)
    ]
    plan = build_plan(specs, config, cases[0].repo, instances=INSTANCES, caps={})
    schedule = simulate(plan, instances=INSTANCES, caps={})
    return schedule.sequential / schedule.makespan


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench predict", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--repo", type=Path, default=Path("."), help="a git checkout (default .)")
    parser.add_argument("--changes", type=int, default=120, help="how many changes (default 120)")
    parser.add_argument("--quick", action="store_true", help="30 changes")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--plan-time", action="store_true", help="time `coordinator plan` on a 10,000-file repo"
    )
    args = parser.parse_args(list(argv))
    if args.plan_time:
        figures = timing()
        print(
            json.dumps(figures)
            if args.json
            else markdown_table(list(figures), [list(figures.values())])
        )
        return 0
    count = 30 if args.quick else args.changes
    started = time.perf_counter()
    cases = read_cases(args.repo, count)
    indexed = time.perf_counter() - started
    if not cases:
        print(f"{args.repo}: no first-parent change with files to predict")
        return 2
    rows = {row.name: measure(cases, row) for row in configurations()}
    with_sources = [c for c in cases if any(not is_test_or_doc(f) for f in c.change.files)]
    for row in configurations():
        if row.declared and with_sources:
            rows[f"{row.name} ({len(with_sources)} with source files)"] = measure(with_sources, row)
    if args.json:
        print(json.dumps({"repo": str(args.repo), "changes": len(cases), "rows": rows}, indent=2))
        return 0
    print(
        f"## Footprint prediction on {args.repo} "
        f"({len(cases)} changes, indexed in {indexed:.1f} s)\n"
    )
    headers = ["configuration", "recall", "precision", "predicted", "true", "ratio", "empty",
               "safety", f"speedup@{INSTANCES}"]  # fmt: skip
    keys = ("recall", "precision", "predicted_size", "true_size", "size_ratio")
    table = [
        [name, *(r[k] for k in keys), int(r["empty"]), r["safety"], r["speedup"]]
        for name, r in rows.items()
    ]
    print(markdown_table(headers, table))
    return 0


# ------------------------------------------------------------------------ plan time, large repo
def timing(files: int = 10_000, commits: int = 300, specs: int = 20) -> dict[str, float]:
    """``coordinator plan`` on a synthetic repository of ``files`` Python files: cold (index
    built) and warm (index loaded), each a fresh process as a user runs it, plus the same
    after one more commit (the index rebuilt incrementally from the previous base's)."""
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        root = Path(tmp) / "repo"
        _synthetic_repo(root, files, commits)
        (root / "specs").mkdir()
        for n in range(specs):
            (root / "specs" / f"t{n}.md").write_text(
                f"---\nagent: coder\n---\nMake `func_{n * 37}_a` in module {n * 37} faster "
                f"and fix the retry of widget {n}.\n",
                encoding="utf-8",
            )
        (root / "coordinator.toml").write_text(
            '[agents.coder]\ncommand = ["true"]\n', encoding="utf-8"
        )
        cold = _plan_seconds(root)
        warm = min(_plan_seconds(root) for _ in range(3))
        (root / "pkg0" / "mod0.py").write_text("def func_0_a():\n    return 1\n", encoding="utf-8")
        _git(root, "commit", "-qam", "one more change")
        incremental = _plan_seconds(root)
        return {"files": files, "cold": cold, "warm": warm, "incremental": incremental}


def _plan_seconds(root: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "coordinator.cli", "plan", "--format", "json"],
        cwd=root, capture_output=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode(errors="replace"))
    return time.perf_counter() - started


def _git(root: Path, *args: str, data: bytes | None = None) -> None:
    subprocess.run(["git", *args], cwd=root, input=data, check=True, capture_output=True)


def _synthetic_repo(root: Path, files: int, commits: int) -> None:
    """One commit of ``files`` modules in 100 packages, then ``commits`` small changes, written
    with ``git fast-import`` (seconds instead of minutes)."""
    root.mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    stream: list[bytes] = []

    def blob_of(n: int, version: int) -> bytes:
        text = (
            f'"""Module {n}: widgets, retries and caches."""\n\n'
            f"def func_{n}_a(x):\n    return x + {version}\n\n"
            f"class Widget{n}:\n    def retry_{n}(self):\n        return 'retry {n}'\n"
        ).encode()
        return b"data %d\n%s\n" % (len(text), text)

    def commit(message: str, changes: list[tuple[str, bytes]], mark: int) -> None:
        stream.append(b"commit refs/heads/main\nmark :%d\n" % mark)
        stream.append(b"committer Bench <bench@example.com> %d +0000\n" % (1_700_000_000 + mark))
        stream.append(b"data %d\n%s\n" % (len(message), message.encode()))
        if mark > 1:
            stream.append(b"from :%d\n" % (mark - 1))
        for path, data in changes:
            stream.append(b"M 100644 inline %s\n%s" % (path.encode(), data))

    paths = [f"pkg{n % 100}/mod{n}.py" for n in range(files)]
    commit("initial", [(p, blob_of(n, 0)) for n, p in enumerate(paths)], 1)
    for c in range(commits):
        touched = [(c * 7 + k * 13) % files for k in range(3)]
        changes = [(paths[n], blob_of(n, c + 1)) for n in touched]
        named = ", ".join(f"`func_{n}_a`" for n in touched)
        commit(f"Change {named}", changes, c + 2)
    _git(root, "fast-import", "--quiet", data=b"".join(stream))
    _git(root, "reset", "-q", "--hard", "main")
