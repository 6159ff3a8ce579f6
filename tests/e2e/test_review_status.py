"""Review with plain git and with ``coordinator review``; ``status`` with the daemon's cycle.

Every landed task must be reviewable with git alone: one first-parent merge per task with its
trailers, whose second parent is the agent's branch; ``review`` shows the same and prints git
commands that work.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from typing import Any

from e2e_util import E2EProject

TARGET = "coordinator/integration"


def _merges(e2e: E2EProject) -> list[dict[str, Any]]:
    """Oldest first: sha, parents and trailers of each first-parent merge on the target."""
    out = e2e.git(
        "log",
        "--first-parent",
        "--min-parents=2",
        "--reverse",
        "--format=%H%x00%P%x00%(trailers:only,unfold)%x1e",
        TARGET,
    )
    merges = []
    for record in filter(None, (r.strip("\n") for r in out.split("\x1e"))):
        sha, parents, trailers = record.split("\x00")
        pairs = (line.split(": ", 1) for line in trailers.splitlines() if ": " in line)
        merges.append({"sha": sha, "parents": parents.split(), "trailers": dict(pairs)})
    return merges


def _run(e2e: E2EProject) -> subprocess.CompletedProcess[str]:
    result = e2e.cli("run")
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result


def test_every_task_is_reviewable_with_git_alone(e2e: E2EProject) -> None:
    e2e.spec("lib", "@write lib.txt v1\n@marker done wrote the library", files=["lib.txt"])
    e2e.spec("use", "@write use.txt uses lib", files=["use.txt"], deps=["lib"])
    e2e.spec(
        "sloppy",
        "@write sloppy.txt s\n@write surprise.txt !",
        files=["sloppy.txt"],
        extra="footprint: declared",
    )
    _run(e2e)
    run_id = e2e.status()["run_id"]
    merges = _merges(e2e)
    assert sorted(m["trailers"]["Coordinator-Task"] for m in merges) == ["lib", "sloppy", "use"]
    base = e2e.git("rev-parse", "main").strip()
    previous = base
    for merge in merges:
        trailers = merge["trailers"]
        task = trailers["Coordinator-Task"]
        assert trailers["Coordinator-Agent"] == "fake"
        assert trailers["Coordinator-Run"] == run_id
        assert len(trailers["Coordinator-Spec-Digest"]) == 64
        first, second = merge["parents"]
        assert first == previous  # one merge per task, in a line
        branch_head = e2e.git("rev-parse", f"refs/heads/coordinator/task/{task}").strip()
        assert second == branch_head  # the agent's own branch
        previous = merge["sha"]
    sloppy = next(m for m in merges if m["trailers"]["Coordinator-Task"] == "sloppy")
    assert sloppy["trailers"]["Coordinator-Footprint-Violations"] == "surprise.txt"
    assert previous == e2e.git("rev-parse", TARGET).strip()

    review = e2e.cli("review")
    assert review.returncode == 0, review.stderr
    text = review.stdout
    positions = [text.index(f"task {m['trailers']['Coordinator-Task']} ") for m in merges]
    assert positions == sorted(positions)  # merge order
    assert "summary: wrote the library" in text
    assert "footprint violations: surprise.txt" in text
    assert f"git log --first-parent {TARGET}" in text
    # Every command review suggests runs with plain git.
    commands = [line.strip() for line in text.splitlines() if line.strip().startswith("git ")]
    assert len(commands) == 3 * len(merges)
    commands.append(text.strip().splitlines()[-1].split(": ", 1)[1])
    for command in commands:
        done = subprocess.run(
            shlex.split(command), cwd=e2e.root, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, (command, done.stderr)
    lib = next(m for m in merges if m["trailers"]["Coordinator-Task"] == "lib")
    show = subprocess.run(
        ["git", "log", "--oneline", f"{lib['sha'][:12]}^1..{lib['sha'][:12]}^2"],
        cwd=e2e.root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert show.stdout.strip()  # the agent's commits are one command away


def test_review_since_revision_and_date_and_filters(e2e: E2EProject) -> None:
    e2e.spec("early", "@write early.txt e", files=["early.txt"])
    _run(e2e)
    first_run = e2e.status()["run_id"]
    checkpoint = e2e.git("rev-parse", TARGET).strip()
    e2e.spec("late", "@write late.txt l", files=["late.txt"])
    e2e.spec("later", "@write later.txt l", files=["later.txt"])
    _run(e2e)

    since_rev = e2e.cli("review", "--since", checkpoint)
    assert since_rev.returncode == 0, since_rev.stderr
    assert "task late " in since_rev.stdout and "task later " in since_rev.stdout
    assert "task early " not in since_rev.stdout
    assert "task early " in e2e.cli("review", "--since", "1 hour ago").stdout
    assert "task early " in e2e.cli("review", "--since", "2000-01-01").stdout
    future = e2e.cli("review", "--since", "2090-01-01")
    assert future.returncode == 0
    assert future.stdout.strip() == f"nothing landed on {TARGET} for this selection"
    nonsense = e2e.cli("review", "--since", "the day the music died")
    assert nonsense.returncode == 2, nonsense.stdout + nonsense.stderr
    assert "--since" in nonsense.stderr and len(nonsense.stderr.strip().splitlines()) == 1

    only = e2e.cli("review", "later").stdout
    assert "task later " in only and "task late " not in only
    by_run = e2e.cli("review", "--run", first_run).stdout
    assert "task early " in by_run and "task late " not in by_run
    patch = e2e.cli("review", "late", "--patch").stdout
    assert "+++ b/late.txt" in patch and "+l" in patch


def test_review_markdown_digest(e2e: E2EProject) -> None:
    e2e.spec("alpha", "@write alpha.txt a\n@marker done added alpha", files=["alpha.txt"])
    e2e.spec(
        "beta",
        "@write beta.txt b\n@write extra.txt x",
        files=["beta.txt"],
        extra="footprint: declared",
    )
    _run(e2e)
    assert e2e.cli("revert", "alpha").returncode == 0
    result = e2e.cli("review", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    md = result.stdout
    assert md.startswith(f"# Review digest: 2 tasks landed on `{TARGET}`\n")
    merges = {m["trailers"]["Coordinator-Task"]: m for m in _merges(e2e)}
    assert "| task | agent | merge | files | violations |" in md
    assert f"| alpha (reverted) | fake | `{merges['alpha']['sha'][:12]}` | 1 | - |" in md
    assert f"| beta | fake | `{merges['beta']['sha'][:12]}` | 2 | extra.txt |" in md
    assert "> added alpha" in md
    assert "- `extra.txt`" in md and "- `beta.txt`" in md
    assert "alpha.txt | 1 +" in md  # the diffstat
    assert f"git show --stat {merges['beta']['sha'][:12]}" in md
    assert md.count("```sh") == 3
    assert "Reverted by" in md

    empty = e2e.cli("review", "--since", "2090-01-01", "--format", "markdown")
    assert empty.returncode == 0
    assert "Nothing landed for this selection." in empty.stdout


def test_review_reads_the_summary_from_git_when_the_store_is_gone(e2e: E2EProject) -> None:
    e2e.spec("alpha", "@write alpha.txt a\n@marker done added alpha", files=["alpha.txt"])
    _run(e2e)
    for state in (e2e.root / ".git" / "coordinator").glob("state.db*"):
        state.unlink()  # as in a fresh clone of the reviewed branch
    md = e2e.cli("review", "--format", "markdown").stdout
    assert "> added alpha" in md


def test_review_before_anything_landed(e2e: E2EProject) -> None:
    result = e2e.cli("review")
    assert result.returncode == 0
    assert result.stdout.strip() == f"nothing to review: branch {TARGET} does not exist yet"


def test_status_json_and_text(e2e: E2EProject) -> None:
    none_yet = e2e.cli("status", "--json")
    assert none_yet.returncode == 1, none_yet.stdout + none_yet.stderr
    assert len(none_yet.stderr.strip().splitlines()) == 1
    assert "no runs recorded yet" in none_yet.stderr

    e2e.spec("one", "@write one.txt 1", files=["one.txt"])
    assert e2e.cli("daemon", "--once").returncode == 0
    data = e2e.status()
    assert data["tasks"][0]["id"] == "one" and data["tasks"][0]["state"] == "merged"
    daemon = data["daemon"]
    assert daemon["run_id"] == data["run_id"]
    assert daemon["counts"] == {"merged": 1}
    assert daemon["exit_code"] == 0
    assert [item["id"] for item in daemon["landed"]] == ["one"]
    assert daemon["landed"][0]["merge_commit"] == data["tasks"][0]["merge_commit"]
    json.dumps(data)  # plain JSON all the way down

    text = e2e.cli("status")
    assert text.returncode == 0, text.stderr
    assert "daemon: last cycle" in text.stdout and "landed one" in text.stdout
    unknown = e2e.cli("status", "--run", "nope")
    assert unknown.returncode == 2 and "nope" in unknown.stderr
