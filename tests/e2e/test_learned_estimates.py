"""`plan` learns estimates from the attempts `run` recorded, and says where each came from."""

from __future__ import annotations

import json
from typing import Any

from e2e_util import E2EProject


def _plan(e2e: E2EProject) -> dict[str, dict[str, Any]]:
    # --all: after the run its tasks are merged, and plan leaves merged tasks out by default.
    result = e2e.cli("plan", "--all", "--format", "json")
    assert result.returncode == 0, result.stderr
    return {t["id"]: t for t in json.loads(result.stdout)["tasks"]}


def test_plan_shows_a_learned_estimate_after_a_run(e2e: E2EProject) -> None:
    e2e.spec("slow", "@sleep 0.6\n@write slow.txt s", files=["slow.txt"])
    e2e.spec("given", "@write given.txt g", files=["given.txt"], extra="estimate: 90s")
    before = _plan(e2e)
    assert before["slow"]["estimate_source"] == "default"
    assert before["slow"]["estimate"] is None and before["slow"]["estimate_used"] == 90.0
    text = e2e.cli("plan")
    assert "1m30s (default)" in text.stdout
    assert "1 defaulted; default 1m30s" in " ".join(text.stdout.split())

    run = e2e.cli("run")
    assert run.returncode == 0, run.stdout + run.stderr
    e2e.spec("later", "@write later.txt l", files=["later.txt"])  # never ran: its type's median

    after = _plan(e2e)
    assert after["slow"]["estimate_source"] == "history"
    assert after["slow"]["estimate"] is None  # the spec's own field stays what the spec says
    learned = after["slow"]["estimate_used"]
    assert 0.6 <= learned < 30, learned
    assert after["given"]["estimate_source"] == "spec" and after["given"]["estimate_used"] == 90.0
    assert after["later"]["estimate_source"] == "agent-median"
    assert after["later"]["estimate_used"] > 0
    shown = " ".join(e2e.cli("plan", "--all").stdout.split())
    assert "(history)" in shown and "(agent median)" in shown
    assert "1 from the task's past attempts" in shown

    # A changed spec is a new task as far as its own history goes.
    e2e.spec("slow", "@sleep 0.6\n@write slow.txt changed", files=["slow.txt"])
    assert _plan(e2e)["slow"]["estimate_source"] == "agent-median"
