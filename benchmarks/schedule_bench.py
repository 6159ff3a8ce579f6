"""``scripts/bench schedule``: the policy against lower bounds and against today's strategies.

Every strategy is simulated by ``coordinator.core.simulate`` with the real ``Scheduler`` on the
true durations, so all of them respect dependencies, footprint conflicts and agent caps; they
differ only in start order and barriers (``benchmarks.strategies``). "ours" is the plan as
``coordinator plan`` builds it for N slots (``build_plan(..., instances=N, caps=...)``, which
chooses ``rank`` by simulating candidate orders on the *estimates*), run as the engine runs it:
re-planning the waiting tasks whenever a duration parts from its estimate
(``coordinator.core.replan``); "ours~" builds that plan from estimates off by a lognormal factor
(sigma 0.5) and then runs it on the true durations. "ours0" and "ours0~" are the same plans run
with the order fixed up front, as the policy did before re-planning: the before/after pair of
the robustness goal, measured in one run.

The reference ("best known") is the shortest makespan any method found for the instance: every
strategy here, the best of many random priority orders, and a local search from that best
random order (random-key perturbations, seeded apart from the one ``choose_rank`` uses).
Figures named "/LB" divide by the tight bound of ``simulate.lower_bound``; "simple LB" is
``simulate.simple_lower_bound`` (critical path, work/N, per-file work, per-type work/cap).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import strategies as st
from benchmarks.common import REPO_ROOT, emit, noisy, plan_for
from benchmarks.families import GENERATED, Instance, history_instances
from benchmarks.schedule_report import render, summarise
from coordinator.core.plan import Plan
from coordinator.core.simulate import lower_bound, simple_lower_bound

SIZES = (2, 3, 4, 8)
FAMILIES = (*GENERATED, "git")


@dataclass(frozen=True)
class Settings:
    count: int = 20
    sizes: tuple[int, ...] = SIZES
    scale: float = 1.0
    random_orders: int = 300
    polish: int = 300
    families: tuple[str, ...] = FAMILIES
    repo: Path = REPO_ROOT


QUICK = Settings(count=3, sizes=(2, 3), scale=0.5, random_orders=20, polish=20)


def instances_of(settings: Settings) -> list[Instance]:
    """Every instance to measure; the git family is skipped, with a note, outside a repo."""
    found: list[Instance] = []
    for family in settings.families:
        if family == "git":
            window = 30 if settings.scale >= 1 else 10
            try:
                found.extend(history_instances(settings.repo, count=settings.count, window=window))
            except RuntimeError as exc:
                print(f"git family skipped: {exc}", file=sys.stderr)
        else:
            found.extend(GENERATED[family](i, settings.scale) for i in range(settings.count))
    return found


def measure(job: tuple[Instance, int, Settings]) -> dict[str, Any]:
    """Every strategy, the bounds and the reference for one instance at N slots."""
    instance, n, settings = job
    true = instance.durations
    caps = instance.caps(n)
    estimates = noisy(true, f"{instance.family}/{instance.index}/noise")
    exact = plan_for(instance, true)
    started = time.perf_counter()
    ours = plan_for(instance, true, instances=n, caps=caps)
    rank_seconds = time.perf_counter() - started
    ours_noisy = plan_for(instance, estimates, instances=n, caps=caps)
    guessed = plan_for(instance, estimates)

    def run(plan: Plan, replan: bool = False) -> float:
        return st.makespan(plan, n, caps, true, replan=replan)

    result = {
        "seq": st.sequential(true),
        "layers": run(st.layers(exact)),
        "fifo": run(st.fifo(exact)),
        "batches": run(st.batches(exact, n)),
        "cp": run(st.critical_path(exact)),
        "ours": run(ours, replan=True),
        "cp~": run(st.critical_path(guessed)),
        "ours~": run(ours_noisy, replan=True),
        "ours0": run(ours),
        "ours0~": run(ours_noisy),
    }
    searched = _reference_search(exact, n, caps, true, settings, instance)
    return {
        "family": instance.family,
        "index": instance.index,
        "tasks": len(instance.ids),
        "n": n,
        "makespan": result,
        "best_known": min(searched, *result.values()),
        "random_search": searched,
        "lb": lower_bound(exact, n, caps, true),
        "simple_lb": simple_lower_bound(exact, n, caps, true),
        "rank_seconds": rank_seconds,
    }


def _reference_search(
    plan: Plan,
    n: int,
    caps: dict[str, int],
    true: dict[str, float],
    settings: Settings,
    instance: Instance,
) -> float:
    """Best of ``random_orders`` random priority orders, then ``polish`` perturbations of it."""
    seed = f"reference/{instance.family}/{instance.index}/{n}"
    rng = random.Random(seed)  # noqa: S311 - reproducible, not a secret
    ids = list(plan.ids)

    def run(order: Sequence[str]) -> float:
        return st.makespan(st.ranked(plan, order), n, caps, true)

    best_order, best = list(ids), run(ids)
    for _ in range(settings.random_orders):
        rng.shuffle(ids)
        value = run(ids)
        if value < best:
            best_order, best = list(ids), value
    for i in range(settings.polish):
        sigma = (1.0, 3.0, 10.0)[i % 3]
        keyed = sorted((p + rng.gauss(0.0, sigma), t) for p, t in enumerate(best_order))
        order = [t for _, t in keyed]
        value = run(order)
        if value < best:
            best_order, best = order, value
    return best


def run(settings: Settings, jobs: int = 1) -> dict[str, Any]:
    work = [(inst, n, settings) for inst in instances_of(settings) for n in settings.sizes]
    started = time.perf_counter()
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            rows = list(pool.map(measure, work, chunksize=4))
    else:
        rows = [measure(job) for job in work]
    return {
        "settings": {
            "count": settings.count,
            "sizes": list(settings.sizes),
            "scale": settings.scale,
            "random_orders": settings.random_orders,
            "polish": settings.polish,
            "noise_sigma": 0.5,
            "repo": str(settings.repo),
        },
        "seconds": time.perf_counter() - started,
        "load_average": os.getloadavg()[0],
        "summary": summarise(rows),
        "instances": rows,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench schedule", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 small instances, N = 2 and 3")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="git repo for the git family")
    parser.add_argument("--family", action="append", choices=FAMILIES, help="only these")
    parser.add_argument("--count", type=int, help="instances per family")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--instances", type=int, nargs="+", dest="sizes", help=f"slot counts N (default {SIZES})"
    )
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    settings = Settings(
        count=args.count or settings.count,
        sizes=tuple(args.sizes) if args.sizes else settings.sizes,
        scale=settings.scale,
        random_orders=settings.random_orders,
        polish=settings.polish,
        families=tuple(args.family) if args.family else settings.families,
        repo=args.repo,
    )
    result = run(settings, jobs=args.jobs)
    emit(result, render(result), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
