"""Usage and cost end to end: from markers and from a CLI's output, in status, the summary and
review; and a budget that stops a run after the task that crossed it."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_util import FAKE_CONFIG, E2EProject

# Prints a report the way `claude -p --output-format json` ends its output.
CLAUDE_LIKE = """
import json, pathlib
pathlib.Path("cli.txt").write_text("made by a CLI\\n")
print("working...")
print(json.dumps({"type": "result", "subtype": "success", "total_cost_usd": 0.5,
                  "usage": {"input_tokens": 10, "cache_read_input_tokens": 990,
                            "output_tokens": 50}}))
"""


def _marker(cost: float, tokens: tuple[int, int] = (100, 20)) -> str:
    usage = {"input_tokens": tokens[0], "output_tokens": tokens[1], "cost_usd": cost}
    return "@marker-raw " + json.dumps({"status": "done", "usage": usage})


def test_usage_from_markers_and_cli_output_in_status_summary_and_review(
    e2e: E2EProject, tmp_path: Path
) -> None:
    script = tmp_path / "claude_like.py"
    script.write_text(CLAUDE_LIKE)
    command = json.dumps(["{python}", str(script)])
    e2e.config(
        FAKE_CONFIG + f'\n[agents.cli]\ncommand = {command}\nusage_from = "claude-code"\n'
    )
    e2e.spec("marked", "@write marked.txt m\n" + _marker(0.25), files=["marked.txt"])
    e2e.spec("cli", "run the cli", agent="cli", files=["cli.txt"])
    bad = '@marker-raw {"status": "done", "usage": {"input_tokens": "lots"}}'
    e2e.spec("odd", "@write odd.txt o\n" + bad, files=["odd.txt"])

    result = e2e.cli("run")

    assert result.returncode == 0, result.stdout + result.stderr
    data = e2e.status()
    tasks = {t["id"]: t for t in data["tasks"]}
    assert tasks["marked"]["usage"] == {"input_tokens": 100, "output_tokens": 20, "cost_usd": 0.25}
    assert tasks["cli"]["usage"] == {"input_tokens": 1000, "output_tokens": 50, "cost_usd": 0.5}
    assert tasks["odd"]["usage"] == {"input_tokens": None, "output_tokens": None, "cost_usd": None}
    assert tasks["odd"]["state"] == "merged"  # a bad usage never undoes "done"
    assert "the marker's usage was not read" in result.stdout
    assert data["usage"] == {"input_tokens": 1100, "output_tokens": 70, "cost_usd": 0.75}
    assert data["summary"]["usage"] == data["usage"]
    assert "used: 1.1k in, 70 out, $0.750" in result.stdout  # the summary line
    review = e2e.cli("review", "marked", "cli")
    assert "used: 100 in, 20 out, $0.250" in review.stdout
    assert "used: 1.0k in, 50 out, $0.500" in review.stdout
    status_text = e2e.cli("status")
    assert "used: 1.1k in, 70 out, $0.750" in status_text.stdout


def test_a_budget_stops_new_starts_after_the_task_that_crossed_it(e2e: E2EProject) -> None:
    e2e.config(FAKE_CONFIG + "\n[budget]\nmax_cost_usd = 1.0\n")
    e2e.spec("a", "@write a.txt a\n" + _marker(1.2), files=["a.txt"], extra="priority: 9")
    # Still running when the budget is reached: it finishes and lands.
    e2e.spec("slow", "@wait-merged a 60\n@write slow.txt s", files=["slow.txt"])
    e2e.spec("c", "@write c.txt c\n" + _marker(0.1), deps=["a"], files=["c.txt"])
    e2e.spec("d", "@write d.txt d", deps=["slow"], files=["d.txt"])

    result = e2e.cli("run", "--instances", "2", "--json")

    assert result.returncode == 1, result.stdout + result.stderr
    tasks = e2e.tasks()
    assert tasks["a"]["state"] == "merged" and tasks["slow"]["state"] == "merged"
    for skipped in ("c", "d"):
        assert (tasks[skipped]["state"], tasks[skipped]["reason"]) == ("skipped", "budget")
        assert tasks[skipped]["started_at"] is None
    events = [json.loads(line) for line in result.stdout.splitlines()]
    (budget,) = [e for e in events if e["event"] == "budget"]
    assert "max_cost_usd 1" in budget["message"]
    assert e2e.status()["usage"]["cost_usd"] == 1.2


def test_no_task_starts_in_the_slot_of_the_agent_that_crossed_the_budget(e2e: E2EProject) -> None:
    # One slot: the moment a's marker is read its slot is free, but what a used is counted only
    # once its work is collected; b must not start in between.
    e2e.config(FAKE_CONFIG + "\n[budget]\nmax_tokens = 100\n")
    marked = "@write a.txt a\n" + _marker(0.0, (100, 20))
    e2e.spec("a", marked, files=["a.txt"], extra="priority: 9")
    e2e.spec("b", "@write b.txt b", files=["b.txt"])

    result = e2e.cli("run", "--instances", "1", "--json")

    assert result.returncode == 1, result.stdout + result.stderr
    tasks = e2e.tasks()
    assert tasks["a"]["state"] == "merged"
    assert (tasks["b"]["state"], tasks["b"]["reason"]) == ("skipped", "budget")
    assert tasks["b"]["started_at"] is None
