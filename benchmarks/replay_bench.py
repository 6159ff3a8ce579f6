"""``scripts/bench replay --repo PATH``: a real repository's history replayed as tasks (issue 12).

The last N first-parent changes of PATH's HEAD become N tasks on a clone at the commit before
them. Each task's footprint is its change's files; a scripted agent (``replay_agent.py``) waits
the same time in every task, then makes its change again. Changes that share a file outside
``shared`` are ordered as history ordered them (a dependency on the previous change to that
file); changes that share only ``shared`` files (changelogs) are not, and meet in the merge,
with ``union`` for the changelogs. Three runs:

* one at a time (``--instances 1``): the baseline;
* files (``--instances N``, no ``[overlap]``): every shared file orders its changes;
* shared (``--instances N``, ``[overlap] shared`` and ``union`` = the changelog globs).

Goal (click's last 120 changes, N = 3): shared is at least 2.0x faster than one at a time,
every change lands, and the final tree equals the real one except the order of changelog lines.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import emit, markdown_table
from benchmarks.run_bench import bench_env, log
from coordinator.core.globs import glob_match
from coordinator.io.runfiles import store_path
from coordinator.io.store import Store

AGENT = Path(__file__).resolve().parent / "replay_agent.py"
SPEEDUP_GOAL = 2.0
TARGET = "coordinator/integration"


def git(cwd: Path, *args: str) -> str:
    env = bench_env()
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env
    ).stdout


def changes(source: Path, n: int) -> list[tuple[str, str, list[str], set[str]]]:
    """(parent, commit, files, files added or deleted) of the last ``n`` first-parent changes,
    oldest first."""
    commits = git(source, "rev-list", "--first-parent", "-n", str(n + 1), "HEAD").split()[::-1]
    out = []
    for parent, commit in itertools.pairwise(commits):
        listing = git(source, "diff", "--no-renames", "--name-status", parent, commit)
        rows = [line.split("\t", 1) for line in listing.splitlines() if "\t" in line]
        created = {path for status, path in rows if status in ("A", "D")}
        out.append((parent, commit, [path for _, path in rows], created))
    return out


def _spec(task_id: str, files: list[str], deps: list[str], body: str) -> str:
    front = [f"id: {task_id}", "agent: replay", f"files: {json.dumps(files)}"]
    if deps:
        front.append(f"depends_on: [{', '.join(deps)}]")
    return "---\n" + "\n".join(front) + "\n---\n" + body + "\n"


def prepare(
    source: Path, root: Path, todo: list[tuple[str, str, list[str], set[str]]], shared: list[str],
    instances: int, sleep: float,
) -> None:  # fmt: skip
    git(root.parent, "clone", "-q", "--no-checkout", str(source), str(root))
    git(root, "checkout", "-q", "-b", "replay", todo[0][0])
    git(root, "config", "user.name", "bench")
    git(root, "config", "user.email", "bench@localhost")
    command = json.dumps(["{python}", str(AGENT), "{prompt_file}"])
    config = (
        f'specs = "replay-specs"\ninstances = {instances}\nfootprint = "declared"\n'
        f'grace = "2s"\n\n[agents.replay]\ncommand = {command}\ntimeout = "600s"\n'
    )
    if shared:
        config += f"\n[overlap]\nshared = {json.dumps(shared)}\nunion = {json.dumps(shared)}\n"
    (root / "coordinator.toml").write_text(config)
    specs = root / "replay-specs"
    specs.mkdir()
    last: dict[str, str] = {}
    since: dict[str, list[str]] = {}  # shared file -> changes to it since its last barrier
    barrier: dict[str, str] = {}  # shared file -> the last change that created or deleted it
    for k, (parent, commit, files, created) in enumerate(todo):
        task_id = f"c{k:03}"
        ordered = [f for f in files if not any(glob_match(g, f) for g in shared)]
        deps = {last[f] for f in ordered if f in last}
        for f in ordered:
            last[f] = task_id
        # No merge combines a deletion (or creation) of a shared file with edits to it: such a
        # change is ordered after every change to that file before it, and before every after.
        for f in (f for f in files if f not in ordered):
            deps |= {barrier[f]} if f in barrier else set()
            if f in created:
                deps |= set(since.get(f, []))
                barrier[f], since[f] = task_id, []
            else:
                since.setdefault(f, []).append(task_id)
        deps.discard(task_id)
        body = f"@replay {parent} {commit} {sleep:g} {json.dumps(shared)}"
        (specs / f"{task_id}.md").write_text(_spec(task_id, files, sorted(deps), body))
    git(root, "add", "coordinator.toml", "replay-specs")
    git(root, "commit", "-q", "-m", "replay setup")


def compare(root: Path, tip: str, union: list[str]) -> list[str]:
    """Paths where the replayed target differs from the real tip (changelogs: as line sets)."""
    names = git(root, "diff", "--no-renames", "--name-only", tip, TARGET, "--").split("\n")
    wrong = []
    for path in (n for n in names if n and n != "coordinator.toml"):
        if path.startswith("replay-specs/"):
            continue
        if any(glob_match(g, path) for g in union):
            real = Counter(git(root, "show", f"{tip}:{path}").splitlines())
            ours = Counter(git(root, "show", f"{TARGET}:{path}").splitlines())
            if real == ours:
                continue
        wrong.append(path)
    return wrong


def run_one(
    source: Path, work: Path, name: str, todo: list[tuple[str, str, list[str], set[str]]],
    shared: list[str], instances: int, sleep: float,
) -> dict[str, Any]:  # fmt: skip
    root = work / name
    prepare(source, root, todo, shared, instances, sleep)
    log(f"replay: {name}: {len(todo)} changes, --instances {instances}, shared {shared}")
    argv = [sys.executable, "-m", "coordinator.cli", "run", "--instances", str(instances)]
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=root, capture_output=True, text=True, env=bench_env(),
                          timeout=7200, check=False)  # fmt: skip
    wall = time.perf_counter() - started
    with Store.open_readonly(store_path(root / ".git")) as store:
        run_id = store.last_run_id()
        assert run_id is not None
        tasks = list(store.tasks(run_id))
    unmerged = sorted((t.task_id, t.state) for t in tasks if t.state != "merged")
    wrong = compare(root, todo[-1][1], shared or ["CHANGES*"]) if not unmerged else []
    return {
        "instances": instances,
        "shared": shared,
        "wall_s": wall,
        "exit": proc.returncode,
        "merged": len(tasks) - len(unmerged),
        "unmerged": unmerged[:10],
        "tree_differs": wrong[:10],
        "tree_equal": not unmerged and not wrong,
    }


def _equal(x: dict[str, Any]) -> str:
    return "yes" if x["tree_equal"] else f"no: {x['tree_differs'] or x['unmerged']}"


def render(r: dict[str, Any]) -> str:
    rows = [
        [name, f"{x['wall_s']:.1f}", f"{r['runs']['one']['wall_s'] / x['wall_s']:.2f}x",
         f"{x['merged']}/{r['changes']}", _equal(x)]
        for name, x in r["runs"].items()
    ]  # fmt: skip
    met = r["speedup"] >= SPEEDUP_GOAL and r["runs"].get("shared", {}).get("tree_equal", False)
    return "\n".join(
        [
            f"### replay: {r['repo']}, last {r['changes']} changes, {r['sleep_s']:g} s each",
            "",
            markdown_table(["run", "wall s", "speedup", "merged", "tree equal"], rows),
            "",
            f"shared speedup over one at a time: {r['speedup']:.2f}x "
            f"(goal >= {SPEEDUP_GOAL}, every change landed, tree equal: "
            f"{'met' if met else 'MISSED'})",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench replay",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--repo", required=True, type=Path, help="a local clone to replay")
    parser.add_argument("--changes", type=int, default=120)
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds every task takes")
    parser.add_argument("--shared", nargs="*", default=["CHANGES*"], help="changelog globs")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--runs", nargs="*", default=["shared", "files"], choices=["shared", "files"],
        help="runs besides one at a time (shared always runs: the goal is measured on it)",
    )
    args = parser.parse_args(argv)
    source = args.repo.resolve()
    todo = changes(source, args.changes)
    work = Path(tempfile.mkdtemp(prefix="coordinator-bench-replay-"))
    try:
        runs = {
            "shared": run_one(
                source, work, "shared", todo, args.shared, args.instances, args.sleep
            ),
        }
        if "files" in args.runs:
            runs["files"] = run_one(source, work, "files", todo, [], args.instances, args.sleep)
        runs["one"] = run_one(source, work, "one", todo, [], 1, args.sleep)
        result = {
            "repo": str(source),
            "changes": len(todo),
            "sleep_s": args.sleep,
            "runs": runs,
            "speedup": runs["one"]["wall_s"] / runs["shared"]["wall_s"],
        }
        emit(result, render(result), args.json)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0
