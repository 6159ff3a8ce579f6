"""Shared helpers of the benchmarks: plans from instances, timing, tables and JSON output."""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.families import Instance
from coordinator.core.config import AgentConfig, Config
from coordinator.core.footprint import RepoPaths
from coordinator.core.models import TaskSpec
from coordinator.core.plan import Plan
from coordinator.core.planner import build_plan

REPO_ROOT = Path(__file__).resolve().parent.parent
NOISE_SIGMA = 0.5


def noisy(
    durations: Mapping[str, float], seed: str, sigma: float = NOISE_SIGMA
) -> dict[str, float]:
    """Estimates off by a lognormal factor: each true duration times exp(N(0, sigma))."""
    rng = random.Random(seed)  # noqa: S311 - reproducible noise, not a secret
    return {t: d * math.exp(rng.gauss(0.0, sigma)) for t, d in sorted(durations.items())}


def plan_for(
    instance: Instance,
    estimates: Mapping[str, float],
    *,
    instances: int | None = None,
    caps: Mapping[str, int] | None = None,
) -> Plan:
    """The plan ``coordinator plan`` would build for the instance, estimates as given.

    Specs are made directly (``files:`` declared, footprint mode "declared"), so planning here
    skips only the text parsing, which ``plan_bench`` measures separately. With ``instances``
    the planner also chooses the rank, exactly as the CLI does.
    """
    agents = sorted({instance.agent(t) for t in instance.ids})
    config = Config(agents={a: AgentConfig(command=["true"]) for a in agents}, footprint="declared")
    specs = [
        TaskSpec(
            id=t,
            agent=instance.agent(t),
            body=f"Task {t}.\n",
            source=f"specs/{t}.md",
            order=i,
            depends_on=instance.deps[t],
            files=instance.files[t],
            estimate=estimates[t],
        )
        for i, t in enumerate(instance.ids)
    ]
    repo = RepoPaths.from_files(f for t in instance.ids for f in instance.files[t])
    return build_plan(specs, config, repo, instances=instances, caps=caps)


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; floats shown with 3 decimals (2 for large numbers)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines.extend("| " + " | ".join(cell(v) for v in row) + " |" for row in rows)
    return "\n".join(lines)


def emit(result: Mapping[str, Any], markdown: str, as_json: bool) -> None:
    if as_json:
        json.dump(result, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(markdown + "\n")


def bench_parser(
    prog: str, doc: str | None, quick: str, *, keep: bool = False
) -> argparse.ArgumentParser:
    """A ``scripts/bench`` command's parser with the options they all share: ``--quick``
    (``quick`` says what it shrinks to), ``--json`` and, for those that make repositories
    worth looking into afterwards, ``--keep``. The module's docstring is its ``--help``."""
    parser = argparse.ArgumentParser(
        prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    if keep:
        parser.add_argument("--keep", action="store_true", help="keep the temporary repositories")
    return parser
