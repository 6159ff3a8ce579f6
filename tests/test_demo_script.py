"""``./scripts/demo``, the README's first command, end to end as a new user runs it: it ends
with the path of the run's report and leaves a screenshot of it next to the demo repository."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from coordinator.io.chrome import find_browser

ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs_every_example_spec_and_shows_the_review(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["TMPDIR"] = str(tmp_path)  # the throwaway repository goes here, and with the test
    done = subprocess.run(
        [str(ROOT / "scripts" / "demo")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    summary = re.search(r"merged (\d+) of (\d+) tasks into coordinator/integration\n", out)
    assert summary is not None and summary.group(1) == summary.group(2), out[-3000:]
    specs = int(summary.group(1))
    assert specs >= 8  # the bundled examples: at least 8 tasks, two agent types
    repo = Path(re.findall(r"The demo repository is (\S+)", out)[-1])
    assert repo.is_relative_to(tmp_path)
    merges = subprocess.run(
        ["git", "-C", str(repo), "log", "--first-parent", "--merges", "--format=%s",
         "coordinator/integration"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert len(merges) == specs and all(m.startswith("Merge task ") for m in merges)
    assert "== coordinator review" in out
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith("report: "), out[-1000:]  # it ends with the report's path
    report = Path(lines[-1].removeprefix("report: "))
    assert report.is_relative_to(repo / ".git" / "coordinator" / "runs")
    page = report.read_text(encoding="utf-8")
    block = re.search(r'id="report-data">(.*?)</script>', page, re.S)
    assert block is not None
    data = json.loads(block.group(1))
    assert len(data["tasks"]) == specs and len({b[0] for b in data["bars"]}) == specs
    screenshot = Path(f"{repo}-report.png")
    if find_browser() is not None:  # the browser tests say so when it is missing
        assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
