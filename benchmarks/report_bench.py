"""``scripts/bench report``: how the HTML report grows with the number of tasks.

A synthetic run of N tasks (a layered DAG, shared files, retries, failures and skipped
dependents, every phase recorded) is written into a real repository and a real store, then
``coordinator.report`` builds the page and, when Chromium is there, a headless browser draws
it. The figures per doubling of N show whether anything grows faster than linearly.

``synthetic_run`` is also what the tests use for their 1,000-task report.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from coordinator.io.runfiles import store_path
from coordinator.io.store import Store

SIZES = (250, 500, 1000, 2000, 4000)
QUICK_SIZES = (100, 200)
INSTANCES = 8
CONFIG = """instances = 8
footprint = "declared"

[agents.coder]
command = ["true"]

[agents.docs]
command = ["true"]
instances = 2
"""


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def synthetic_run(root: Path, tasks: int, *, seed: int = 0) -> str:
    """A repository at ``root`` with ``tasks`` specs and one finished run of them in its store.

    Returns the run id. Deterministic for a seed. Nothing runs: the records are written as the
    engine would write them, with merge commits that git does not have (so no diffstats).
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible data, not a secret
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.name", "Bench")
    _git(root, "config", "user.email", "bench@example.com")
    (root / "coordinator.toml").write_text(CONFIG, encoding="utf-8")
    (root / "specs").mkdir(exist_ok=True)
    files = [f"src/mod{k}.py" for k in range(max(1, tasks // 4))]
    layers = max(2, min(12, tasks // 40))
    ids = [f"t{i:05d}" for i in range(tasks)]
    layer_of = sorted(rng.randrange(layers) for _ in ids)
    deps: dict[str, list[str]] = {}
    first_of_layer: dict[int, int] = {}
    for i, layer in enumerate(layer_of):
        first_of_layer.setdefault(layer, i)
        earlier = first_of_layer[layer]
        count = rng.choice((0, 1, 1, 2)) if earlier else 0
        deps[ids[i]] = sorted({ids[rng.randrange(earlier)] for _ in range(count)})
    for i, task_id in enumerate(ids):
        agent = "docs" if i % 10 == 0 else "coder"
        front = [f"id: {task_id}", f"agent: {agent}", f"files: [{rng.choice(files)}]"]
        if deps[task_id]:
            front.append(f"depends_on: [{', '.join(deps[task_id])}]")
        front.append(f"estimate: {rng.randint(5, 60)}s")
        body = f"Synthetic task {i} of the report benchmark.\n"
        text = "---\n" + "\n".join(front) + "\n---\n" + body
        (root / "specs" / f"{task_id}.md").write_text(text, encoding="utf-8")
    (root / "src").mkdir(exist_ok=True)
    for path in files:
        (root / path).write_text("# module\n", encoding="utf-8")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "synthetic project")
    base = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()
    return _write_store(root, ids, deps, base, rng)


def _write_store(
    root: Path, ids: list[str], deps: dict[str, list[str]], base: str, rng: random.Random
) -> str:
    """Play a list schedule on ``INSTANCES`` slots and record it as the engine would."""
    run_id = "20260101-000000-beef"
    t0 = 1_767_225_600.0
    end_of: dict[str, float] = {}
    failed: set[str] = set()
    slots = [(t0, k) for k in range(INSTANCES)]
    heapq.heapify(slots)
    with Store(store_path(root / ".git")) as store:
        store.create_run(run_id, target="coordinator/integration", base=base,
                         instances=INSTANCES, started_at=t0)  # fmt: skip
        with store.transaction():
            for task_id in ids:
                store.upsert_task(run_id, task_id, agent="coder", state="pending")
            for task_id in ids:
                _record_task(store, run_id, task_id, deps, slots, end_of, failed, rng)
        finished = max(end_of.values(), default=t0) + 0.5
        store.finish_run(run_id, state="incomplete", finished_at=finished, summary={})
    return run_id


def _record_task(
    store: Store,
    run_id: str,
    task_id: str,
    deps: dict[str, list[str]],
    slots: list[tuple[float, int]],
    end_of: dict[str, float],
    failed: set[str],
    rng: random.Random,
) -> None:
    blocked = [d for d in deps[task_id] if d in failed]
    if blocked:
        failed.add(task_id)
        end_of[task_id] = end_of[blocked[0]]
        reason = f"dependency {blocked[0]} was not merged"
        store.upsert_task(run_id, task_id, state="skipped", reason=reason)
        store.add_event(run_id, "skipped", task_id=task_id, at=end_of[blocked[0]],
                        data={"message": reason})  # fmt: skip
        return
    roll = rng.random()
    tries = 2 if roll < 0.03 else 1
    free_at, slot = heapq.heappop(slots)
    start = max([free_at, *(end_of[d] for d in deps[task_id])])
    for attempt in range(1, tries + 1):
        wt_end = start + 0.05
        agent_end = wt_end + rng.uniform(5, 60)
        store.add_attempt(run_id, task_id, attempt, started_at=wt_end)
        last = attempt == tries
        state = "merged"
        if last and 0.03 <= roll < 0.07:
            state = "failed"
        elif last and 0.07 <= roll < 0.08:
            state = "cancelled"
        outcome = "failed" if state in ("failed", "cancelled") else "done"
        store.finish_attempt(run_id, task_id, attempt, finished_at=agent_end, outcome=outcome)
        spans = [("worktree", start, wt_end), ("start", wt_end, wt_end + 0.01)]
        spans.append(("commit", agent_end + 0.02, agent_end + 0.06))
        if outcome == "done":
            spans.append(("merge", agent_end + 0.06, agent_end + 0.09))
        for phase, a, b in spans:
            store.add_event(run_id, "phase", task_id=task_id, at=a,
                            data={"phase": phase, "start": a, "end": b})  # fmt: skip
        store.add_event(run_id, "started", task_id=task_id, at=wt_end,
                        data={"message": f"attempt {attempt} in worktrees/{task_id}"})  # fmt: skip
        done = {"message": "agent done (marker)", "summary": "synthetic work"}
        store.add_event(run_id, "finished", task_id=task_id, at=agent_end, data=done)
        end = agent_end + 0.09
        if not last:
            store.add_event(run_id, "retry", task_id=task_id, at=end,
                            data={"message": "merge conflict in src/x.py; retrying"})  # fmt: skip
            start = end
    heapq.heappush(slots, (agent_end, slot))
    end_of[task_id] = end
    fields: dict[str, Any] = {
        "state": state, "attempt": tries, "started_at": start, "finished_at": agent_end,
        "branch": f"coordinator/task/{task_id}", "base": "0" * 40,
        "predicted_files": ["src/x.py"], "changed_files": ["src/x.py"], "summary": "synthetic",
    }  # fmt: skip
    if state == "merged":
        fields.update(merged_at=end, merge_commit=f"{rng.getrandbits(160):040x}")
        store.add_event(run_id, "merged", task_id=task_id, at=end,
                        data={"message": "into coordinator/integration"})  # fmt: skip
    else:
        failed.add(task_id)
        fields["reason"] = "exit code 1" if state == "failed" else "interrupted"
        store.add_event(run_id, state, task_id=task_id, at=end, data={"message": fields["reason"]})
    store.upsert_task(run_id, task_id, **fields)


def measure(tasks: int, workdir: Path, browser: bool) -> dict[str, Any]:
    """Build (and draw, with ``browser``) the report of a synthetic run of ``tasks`` tasks."""
    from coordinator.report import run_page  # noqa: PLC0415 - after sys.path is set

    root = workdir / f"repo-{tasks}"
    synthetic_run(root, tasks)
    started = time.perf_counter()
    text, _ = run_page(root)
    built = time.perf_counter() - started
    page = root / "report.html"
    page.write_text(text, encoding="utf-8")
    row: dict[str, Any] = {"tasks": tasks, "build_s": built, "bytes": len(text.encode())}
    if browser:
        from coordinator.io.chrome import open_page  # noqa: PLC0415

        started = time.perf_counter()
        with open_page(page.as_uri()) as tab:
            tab.wait_for("document.documentElement.dataset.ready === '1'", timeout=300)
            row["script_ms"] = tab.evaluate("window.reportRenderMs")
            row["dom_nodes"] = tab.evaluate("document.getElementsByTagName('*').length")
        row["browser_s"] = time.perf_counter() - started
    return row


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench report", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two small sizes only")
    parser.add_argument("--json", action="store_true", help="figures as JSON")
    parser.add_argument("--no-browser", action="store_true", help="only build the page")
    args = parser.parse_args(argv)
    from coordinator.io.chrome import find_browser  # noqa: PLC0415

    browser = not args.no_browser and find_browser() is not None
    with tempfile.TemporaryDirectory(prefix="report-bench-") as tmp:
        rows = [measure(n, Path(tmp), browser) for n in (QUICK_SIZES if args.quick else SIZES)]
    if args.json:
        print(json.dumps({"rows": rows, "browser": browser}, indent=2))
        return 0
    print("| tasks | build (s) | x prev | HTML (KB) | script (ms) | x prev | browser (s) | DOM |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    prev: dict[str, Any] | None = None
    for row in rows:
        grow = f"{row['build_s'] / prev['build_s']:.2f}" if prev else "-"
        script = row.get("script_ms")
        sgrow = f"{script / prev['script_ms']:.2f}" if prev and script else "-"
        print(
            f"| {row['tasks']} | {row['build_s']:.2f} | {grow} | {row['bytes'] // 1024} | "
            f"{script if script is None else round(script)} | {sgrow} | "
            f"{row.get('browser_s', 0):.1f} | {row.get('dom_nodes', '-')} |"
        )
        prev = row
    if not browser:
        print("(no Chromium found: the page was built, not drawn)", file=sys.stderr)
    return 0
