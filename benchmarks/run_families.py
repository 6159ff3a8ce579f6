"""Two families of ``scripts/bench run`` for the engine that never waits (issue 10).

* **linger**: N agents of S seconds that write a done marker and then stay alive (as interactive
  agent sessions do), ``--instances 3``. A marker means done, so the run should take what the
  same agents take when they exit: goal wall / (N*S/3) <= 1.10. The ``grace`` of these runs is
  the default 5 s, which an engine waiting for the agent to exit would pay per task.
* **gate**: the ``parallel`` family's agents with a ``[merge] verify`` gate of G seconds, against
  the same run without a gate. Gates run one at a time in the merge lane (a speculative,
  parallel gate is later work), so the lane bounds the wall time at about N*G; what this family
  shows is that the loop keeps going meanwhile: agents' own time stays what it is without a
  gate, every slot stays busy while agents remain, and markers are read as fast as without one.

Both read the engine's own figures back from the run's store, like the rest of ``run_bench``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.common import markdown_table
from benchmarks.run_bench import (
    PARALLEL_INSTANCES,
    SCRIPTED,
    Sizes,
    log,
    make_repo,
    run_cli,
    specs,
    stats,
    task_ids,
)

LINGER_GOAL = 1.10  # wall / ideal for agents that stay alive after their marker
LINGER_GRACE = "5s"  # the default grace: what waiting for the exit would cost per task


def _config(grace: str, verify: list[str] | None = None) -> str:
    command = json.dumps(["{python}", str(SCRIPTED), "{prompt_file}"])
    text = (
        f'instances = {PARALLEL_INSTANCES}\ngrace = "{grace}"\nfootprint = "declared"\n\n'
        f'[agents.fake]\ncommand = {command}\ntimeout = "600s"\n'
    )
    if verify:
        text += f"\n[merge]\nverify = {json.dumps(verify)}\n"
    return text


def bench_linger(work: Path, sizes: Sizes) -> dict[str, Any]:
    """Agents that mark done after S seconds, then hang until stopped."""
    bodies = {
        t: f"@sleep {sizes.sleep}\n@write out/{t}.txt done\n@marker done\n@hang"
        for t in task_ids(sizes.tasks)
    }
    root = work / "linger"
    make_repo(root, sizes.small_files, {"coordinator.toml": _config(LINGER_GRACE), **specs(bodies)})
    total = sizes.tasks * sizes.sleep
    log(f"linger: {sizes.tasks} tasks x {sizes.sleep} s that stay alive after their marker")
    outcome = run_cli(root, PARALLEL_INSTANCES, timeout=3 * total + 300)
    if outcome.merged != sizes.tasks:
        raise RuntimeError(f"linger run merged {outcome.merged} of {sizes.tasks} tasks")
    ideal = total / PARALLEL_INSTANCES
    detect = [p["detect"] for p in outcome.phases if "detect" in p]
    return {
        "tasks": sizes.tasks,
        "sleep_s": sizes.sleep,
        "grace": LINGER_GRACE,
        "ideal_s": ideal,
        "wall_s": outcome.wall,
        "engine_wall_s": outcome.engine_wall,
        "ratio_to_ideal": outcome.wall / ideal,
        "engine_ratio_to_ideal": outcome.engine_wall / ideal,
        "goal_ratio": LINGER_GOAL,
        "detect_ms": stats(detect),
    }


def bench_gate(work: Path, sizes: Sizes, baseline: dict[str, Any]) -> dict[str, Any]:
    """The parallel family's agents with a gate of ``sizes.gate`` seconds on every merge."""
    bodies = {
        t: f"@sleep {sizes.sleep}\n@write out/{t}.txt done\n@marker done"
        for t in task_ids(sizes.tasks)
    }
    root = work / "gate"
    verify = ["sleep", f"{sizes.gate:g}"]
    make_repo(root, sizes.small_files, {"coordinator.toml": _config("2s", verify), **specs(bodies)})
    total = sizes.tasks * sizes.sleep
    log(f"gate: {sizes.tasks} tasks x {sizes.sleep} s, a {sizes.gate:g} s gate on each merge")
    outcome = run_cli(root, PARALLEL_INSTANCES, timeout=3 * total + sizes.tasks * sizes.gate + 300)
    if outcome.merged != sizes.tasks:
        raise RuntimeError(f"gate run merged {outcome.merged} of {sizes.tasks} tasks")
    plain = baseline["instances_3"]
    detect = [p["detect"] for p in outcome.phases if "detect" in p]
    lane = sizes.tasks * sizes.gate  # the lane's floor: one gate after the other
    return {
        "tasks": sizes.tasks,
        "sleep_s": sizes.sleep,
        "gate_s": sizes.gate,
        "wall_s": outcome.wall,
        "engine_wall_s": outcome.engine_wall,
        "no_gate_wall_s": plain["wall_s"],
        "ratio_to_no_gate": outcome.wall / plain["wall_s"],
        "lane_floor_s": lane,
        "ratio_to_lane_floor": outcome.engine_wall / lane if lane else None,
        "agent_s": outcome.agent_seconds,
        "agent_ratio_to_sum": outcome.agent_seconds / total,
        "max_parallel": outcome.max_parallel,
        "detect_ms": stats(detect),
    }


def render(result: dict[str, Any]) -> list[str]:
    """The two families' tables, for ``run_bench.render``."""
    lin, gate = result["linger"], result["gate"]
    verdict = "met" if lin["ratio_to_ideal"] <= lin["goal_ratio"] else "MISSED"
    engine_verdict = "met" if lin["engine_ratio_to_ideal"] <= lin["goal_ratio"] else "MISSED"
    det = lin["detect_ms"]
    out = [
        "",
        f"### linger: {lin['tasks']} agents x {lin['sleep_s']} s that stay alive after a done "
        f"marker, --instances 3, grace {lin['grace']}",
        "",
        markdown_table(
            [
                "ideal s",
                "CLI wall s",
                "wall / ideal",
                "engine wall s",
                "engine / ideal",
                "detect median ms",
                "detect p95 ms",
            ],
            [
                [
                    lin["ideal_s"],
                    lin["wall_s"],
                    lin["ratio_to_ideal"],
                    lin["engine_wall_s"],
                    lin["engine_ratio_to_ideal"],
                    _ms(det["median"]),
                    _ms(det["p95"]),
                ]
            ],
        ),
        "",
        f"goal wall / ideal <= {lin['goal_ratio']}: CLI {verdict}, engine {engine_verdict}.",
    ]
    det = gate["detect_ms"]
    out += [
        "",
        f"### gate: {gate['tasks']} agents x {gate['sleep_s']} s, a {gate['gate_s']:g} s "
        "`[merge] verify` gate on every merge, --instances 3",
        "",
        markdown_table(
            [
                "run",
                "CLI wall s",
                "engine wall s",
                "agents' own s",
                "agents / their sum",
                "max at once",
                "detect median ms",
            ],
            [
                ["no gate (parallel)", gate["no_gate_wall_s"], "", "", "", "", ""],
                [
                    "gate",
                    gate["wall_s"],
                    gate["engine_wall_s"],
                    gate["agent_s"],
                    gate["agent_ratio_to_sum"],
                    gate["max_parallel"],
                    _ms(det["median"]),
                ],
            ],
        ),
        "",
        f"gate / no gate: x{gate['ratio_to_no_gate']:.2f}. Gates run one at a time, so the lane's "
        f"floor is {gate['lane_floor_s']:.0f} s (engine wall / floor "
        f"{_ratio(gate['ratio_to_lane_floor'])}); agents' own time at x"
        f"{gate['agent_ratio_to_sum']:.2f} their sum shows their ends were seen while gates ran.",
    ]
    return out


def _ms(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
