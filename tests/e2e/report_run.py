"""A real run worth a report: merges, a conflict retried, a violation, a failure, a skipped
dependent, a merge gate and a hostile summary, made once per test module that needs it."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e_util import FAKE_CONFIG, E2EProject

HOSTILE = '<img src=x onerror="document.title=1"></script><script>document.title=2</script>'
IDS = ("x", "y", "crash", "after-crash", "hostile", "docs")


@dataclass
class ReportedRun:
    project: E2EProject
    output: str
    report: Path
    run_id: str


def make_reported_run(root: Path) -> ReportedRun:
    """Run six tasks with ``run --report`` in a fresh repository under ``root``."""
    root.mkdir(parents=True)
    e2e = E2EProject(root)
    e2e.git("init", "-q", "-b", "main")
    e2e.git("config", "user.name", "Test User")
    e2e.git("config", "user.email", "test@example.com")
    e2e.write("README.md", "# test repo\n")
    e2e.write("f.txt", "original\n")
    e2e.git("add", "-A")
    e2e.git("commit", "-q", "-m", "initial")
    e2e.config(FAKE_CONFIG + f'\n[merge]\nverify = ["{sys.executable}", "-c", "pass"]\n')
    e2e.spec("x", "@write f.txt from x\n@marker done wrote f.txt", files=["f.txt"])
    # y lies about its footprint, runs beside x, conflicts once, lands on its second try
    e2e.spec("y", "@write f.txt from y\n@if-attempt 1 @wait-merged x 30", files=["g.txt"],
             extra="footprint: declared")  # fmt: skip
    e2e.spec("crash", "@write c.txt half\n@exit 3", files=["c.txt"])
    e2e.spec("after-crash", "@write d.txt x", files=["d.txt"], deps=["crash"])
    e2e.spec("hostile", f"@write h.txt x\n@marker done {HOSTILE}", files=["h.txt"])
    e2e.spec("docs", "@write docs.md x", files=["docs.md"], deps=["x"])
    e2e.git("add", "-A")
    e2e.git("commit", "-q", "-m", "specs")
    result = e2e.cli("run", "--report")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # crash failed, after-crash skipped
    found = re.findall(r"^report: (.+)$", result.stdout, re.MULTILINE)
    assert len(found) == 1, output
    run_id = e2e.status()["run_id"]
    return ReportedRun(e2e, output, Path(found[0]), run_id)


def report_data(page: Path) -> dict[str, Any]:
    """The data block of a report, as the page's script reads it."""
    text = page.read_text(encoding="utf-8")
    block = r'<script type="application/json" id="report-data">(.*?)</script>'
    match = re.search(block, text, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data
