"""`plan`'s JSON, dot and Mermaid faces, written line by line from the plan."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

from coordinator.core.config import AgentConfig, Config
from coordinator.core.footprint import RepoPaths
from coordinator.core.models import TaskSpec
from coordinator.core.plan import Plan
from coordinator.core.planner import build_plan
from coordinator.core.simulate import Schedule, simulate
from coordinator.ui.plan_output import iter_json, plan_json, render_dot, render_json, write_lines

CONFIG = Config(agents={"coder": AgentConfig(command=["true"])}, footprint="declared")


def _plan(files: list[list[str]]) -> tuple[Plan, Schedule]:
    specs = [
        TaskSpec(id=f"t{i}", agent="coder", body="", source=f"specs/t{i}.md", order=i,
                 files=tuple(f), estimate=10.0 * (i + 1))
        for i, f in enumerate(files)
    ]  # fmt: skip
    plan = build_plan(specs, CONFIG, RepoPaths.from_files(["a.py", "b.py"]), instances=2)
    return plan, simulate(plan, instances=2, caps={})


def test_streamed_json_is_the_documented_object() -> None:
    plan, schedule = _plan([["a.py"], ["a.py", "b.py"], ["b.py"]])
    text = render_json(plan, schedule, 2)
    parsed = json.loads(text)
    assert parsed == json.loads(json.dumps(plan_json(plan, schedule, 2)))
    assert parsed["conflicts"] == [["t0", "t1", ["a.py"]], ["t1", "t2", ["b.py"]]]
    lines = text.splitlines()
    at = lines.index('  "conflicts": [')
    assert lines[at + 1 : at + 4] == [
        '    ["t0", "t1", ["a.py"]],',
        '    ["t1", "t2", ["b.py"]]',
        "  ],",
    ]


def test_empty_lists_stay_on_one_line() -> None:
    plan, schedule = _plan([["a.py"], ["b.py"]])
    lines = list(iter_json(plan, schedule, 2))
    assert '  "conflicts": [],' in lines
    assert json.loads("\n".join(lines))["conflicts"] == []
    assert "dashed" not in render_dot(plan)


def test_write_lines_stops_quietly_when_the_reader_goes_away() -> None:
    buffer = io.StringIO()
    write_lines(buffer, iter(["a", "b"]))
    assert buffer.getvalue() == "a\nb\n"
    code = (
        "import sys\n"
        "from coordinator.ui.plan_output import write_lines\n"
        "write_lines(sys.stdout, ('x' * 100 for _ in range(200_000)))\n"
        "print('after', file=sys.stderr)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(1000)
    proc.stdout.close()  # the reader stops, as `| head` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert err == "after\n"
