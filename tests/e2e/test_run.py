"""``coordinator run`` end to end: real repositories, real processes, fake agents."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import psutil
from e2e_util import FAKE_CONFIG, E2EProject


def _t(value: str | None) -> float:
    assert value is not None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _interval(task: dict[str, Any]) -> tuple[float, float]:
    return _t(task["started_at"]), _t(task["finished_at"])


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    (s1, e1), (s2, e2) = _interval(a), _interval(b)
    return s1 < e2 and s2 < e1


def _max_concurrent(tasks: list[dict[str, Any]]) -> int:
    points = sorted(
        [(_t(t["started_at"]), 1) for t in tasks] + [(_t(t["finished_at"]), -1) for t in tasks]
    )
    best = current = 0
    for _, delta in points:
        current += delta
        best = max(best, current)
    return best


def _checkout_fingerprint(e2e: E2EProject) -> tuple[str, ...]:
    files = sorted(
        p
        for p in e2e.root.rglob("*")
        if p.is_file()
        and ".git" not in p.relative_to(e2e.root).parts
        and "worktrees" not in p.relative_to(e2e.root).parts
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(e2e.root)).encode())
        digest.update(path.read_bytes())
    return (
        e2e.git("rev-parse", "HEAD"),
        e2e.git("symbolic-ref", "HEAD"),
        e2e.git("status", "--porcelain=v2", "--untracked-files=all"),
        e2e.git("diff"),
        e2e.git("diff", "--cached"),
        (e2e.root / ".git" / "index").read_bytes().hex(),
        digest.hexdigest(),
    )


def test_disjoint_tasks_overlap_and_conflicting_ones_never(e2e: E2EProject, tmp_path: Path) -> None:
    sig = tmp_path / "sig"
    sig.mkdir()
    # a and b can only finish if they run at the same time: each waits for the other's signal.
    e2e.spec("a", f"@touch {sig}/a\n@wait {sig}/b 30\n@write a.txt a", files=["a.txt"])
    e2e.spec("b", f"@touch {sig}/b\n@wait {sig}/a 30\n@write b.txt b", files=["b.txt"])
    e2e.spec("c", "@sleep 0.3\n@append shared.txt c", files=["shared.txt"])
    e2e.spec("d", "@sleep 0.3\n@append shared.txt d", files=["shared.txt"])
    result = e2e.cli("run", "--instances", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    tasks = e2e.tasks()
    assert {t["state"] for t in tasks.values()} == {"merged"}
    assert _overlap(tasks["a"], tasks["b"])
    assert not _overlap(tasks["c"], tasks["d"])
    # the second of c/d started from a target that already held the first one's merge
    first, second = sorted(("c", "d"), key=lambda k: tasks[k]["started_at"])
    assert (
        e2e.git("merge-base", "--is-ancestor", tasks[first]["merge_commit"], tasks[second]["base"])
        == ""
    )
    shared = e2e.git("show", "coordinator/integration:shared.txt")
    assert sorted(shared.split()) == ["c", "d"]


def test_per_type_and_global_caps_hold(e2e: E2EProject) -> None:
    e2e.config(
        FAKE_CONFIG.replace("instances = 3", "instances = 2")
        + '\n[agents.single]\ncommand = ["{python}", '
        + f'"{Path(__file__).parents[1] / "agents" / "scripted.py"}", "{{prompt_file}}"]\n'
        + "instances = 1\n"
    )
    for i in range(4):
        e2e.spec(f"f{i}", f"@sleep 0.4\n@write f{i}.txt x", files=[f"f{i}.txt"])
    for i in range(3):
        e2e.spec(f"s{i}", f"@sleep 0.4\n@write s{i}.txt x", files=[f"s{i}.txt"], agent="single")
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    tasks = list(e2e.tasks().values())
    assert _max_concurrent(tasks) <= 2
    assert _max_concurrent([t for t in tasks if t["agent"] == "single"]) == 1
    assert _max_concurrent(tasks) == 2


def test_instances_on_the_command_line_lift_the_configured_number_for_every_type(
    e2e: E2EProject, tmp_path: Path
) -> None:
    """``--instances 4`` over ``instances = 2``: a type without a cap of its own may use all
    four slots (it was held to the configured two). Each task waits for the other three."""
    e2e.config(FAKE_CONFIG.replace("instances = 3", "instances = 2"))
    sig = tmp_path / "sig"
    sig.mkdir()
    names = ("w0", "w1", "w2", "w3")
    for me in names:
        waits = "".join(f"@wait {sig}/{o} 20\n" for o in names if o != me)
        e2e.spec(me, f"@touch {sig}/{me}\n{waits}@write {me}.txt x", files=[f"{me}.txt"])
    result = e2e.cli("run", "--instances", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _max_concurrent(list(e2e.tasks().values())) == 4


def test_dependents_start_after_merge_and_merges_are_ordered(e2e: E2EProject) -> None:
    e2e.spec("base-task", "@write lib.txt v1", files=["lib.txt"])
    e2e.spec("mid", "@append lib.txt v2", files=["lib.txt"], deps=["base-task"])
    e2e.spec("top", "@write top.txt top", files=["top.txt"], deps=["mid"])
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    tasks = e2e.tasks()
    assert _t(tasks["mid"]["started_at"]) >= _t(tasks["base-task"]["merged_at"])
    assert tasks["mid"]["base"] == tasks["base-task"]["merge_commit"]
    assert tasks["top"]["base"] == tasks["mid"]["merge_commit"]
    log = e2e.git("log", "--first-parent", "--format=%s%n%b%n--", "coordinator/integration")
    titles = [line for line in log.splitlines() if line.startswith("Merge task")]
    assert [t.split(":")[0] for t in titles] == [
        "Merge task top",
        "Merge task mid",
        "Merge task base-task",
    ]
    assert "Coordinator-Task: mid" in log
    assert "Coordinator-Agent: fake" in log
    assert f"Coordinator-Run: {e2e.status()['run_id']}" in log
    parents = e2e.git("log", "-1", "--format=%P", tasks["top"]["merge_commit"]).split()
    assert parents[0] == tasks["mid"]["merge_commit"]
    assert len(parents) == 2


def test_users_checkout_is_untouched(e2e: E2EProject) -> None:
    e2e.write("README.md", "# test repo\nlocal edit, not committed\n")
    e2e.write("src/base.txt", "staged change\n")
    e2e.git("add", "src/base.txt")
    e2e.write("scratch.txt", "untracked\n")
    e2e.spec("one", "@write README.md from agent", files=["README.md"])
    e2e.spec("two", "@write src/new.txt new", files=["src/new.txt"])
    before = _checkout_fingerprint(e2e)
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _checkout_fingerprint(e2e) == before
    assert e2e.git("show", "coordinator/integration:README.md") == "from agent\n"


def test_marker_then_hang_is_killed_and_lands(e2e: E2EProject, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    e2e.spec(
        "hangs",
        f"@pid {pids}\n@write out.txt done\n@marker done all good\n@hang",
        files=["out.txt"],
    )
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    pid = int(pids.read_text().split()[0])
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    task = e2e.tasks()["hangs"]
    assert task["state"] == "merged"
    assert e2e.git("show", "coordinator/integration:out.txt") == "done\n"


def test_exit_without_marker_counts_as_done(e2e: E2EProject) -> None:
    e2e.spec("quiet", "@write q.txt q", files=["q.txt"])
    assert e2e.cli("run").returncode == 0
    assert e2e.tasks()["quiet"]["state"] == "merged"


def test_crash_skips_dependents_others_land_branch_kept(e2e: E2EProject) -> None:
    e2e.spec("boom", "@write partial.txt half done\n@exit 3", files=["partial.txt"])
    e2e.spec("after-boom", "@write x.txt x", files=["x.txt"], deps=["boom"])
    e2e.spec("fine", "@write fine.txt ok", files=["fine.txt"])
    result = e2e.cli("run")
    assert result.returncode == 1, result.stdout + result.stderr
    tasks = e2e.tasks()
    assert tasks["boom"]["state"] == "failed"
    assert tasks["after-boom"]["state"] == "skipped"
    assert tasks["fine"]["state"] == "merged"
    branch = tasks["boom"]["branch"]
    assert "failed" in branch
    assert e2e.git("show", f"{branch}:partial.txt") == "half done\n"
    assert "not merged: boom" in result.stdout


def test_timeout_kills_grandchildren(e2e: E2EProject, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    e2e.spec(
        "slow", f"@pid {pids}\n@spawn 300 {pids}\n@hang", files=["slow.txt"], extra="timeout: 1s"
    )
    result = e2e.cli("run")
    assert result.returncode == 1
    task = e2e.tasks()["slow"]
    assert task["state"] == "failed"
    assert task.get("reason") == "timeout"
    for pid in map(int, pids.read_text().split()):
        alive = psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        assert not alive, pid


def test_the_agent_type_s_timeout_applies_when_the_spec_sets_none(e2e: E2EProject) -> None:
    e2e.config(FAKE_CONFIG.replace('timeout = "60s"', 'timeout = "1s"'))
    e2e.spec("slow", "@hang", files=["slow.txt"])
    e2e.spec("quick", "@write quick.txt q", files=["quick.txt"], extra="timeout: 30s")
    assert e2e.cli("run").returncode == 1
    tasks = e2e.tasks()
    assert (tasks["slow"]["state"], tasks["slow"]["reason"]) == ("failed", "timeout")
    assert tasks["quick"]["state"] == "merged"


def test_footprint_violation_lands_with_trailer(e2e: E2EProject) -> None:
    e2e.spec(
        "sloppy",
        "@write declared.txt a\n@write surprise.txt b",
        files=["declared.txt"],
        extra="footprint: declared",
    )
    assert e2e.cli("run").returncode == 0
    task = e2e.tasks()["sloppy"]
    assert task["state"] == "merged"
    assert task["violations"] == ["surprise.txt"]
    body = e2e.git("log", "-1", "--format=%B", "coordinator/integration")
    assert "Coordinator-Footprint-Violations: surprise.txt" in body


def test_conflict_is_retried_then_kept(e2e: E2EProject) -> None:
    e2e.write("f.txt", "original\n")
    e2e.git("add", "f.txt")
    e2e.git("commit", "-q", "-m", "add f")
    barrier = e2e.root.parent / "y-attempt-2-started"
    e2e.spec("x", "@write f.txt from x", files=["f.txt"])
    # y lies about its footprint, so it runs beside x and z and conflicts with each in turn;
    # z holds its merge until y's second attempt has started from a target without z
    e2e.spec(
        "y",
        "@write f.txt from y\n@if-attempt 1 @wait-merged x 30\n"
        f"@if-attempt 2 @touch {barrier}\n@if-attempt 2 @wait-merged z 30",
        files=["g.txt"],
        extra="footprint: declared",
    )
    e2e.spec("z", f"@wait {barrier} 30\n@write f.txt from z", files=["f.txt"], deps=["x"])
    result = e2e.cli("run")
    assert result.returncode == 1, result.stdout + result.stderr
    tasks = e2e.tasks()
    assert tasks["x"]["state"] == "merged"
    assert tasks["z"]["state"] == "merged"
    assert tasks["y"]["state"] == "conflict"
    assert tasks["y"]["attempt"] == 2
    assert tasks["y"]["base"] == tasks["x"]["merge_commit"]  # the retry started from the new head
    kept = e2e.git("branch", "--list", "coordinator/conflict/*", "--format=%(refname:short)")
    assert len(kept.split()) == 2
    assert e2e.git("show", "coordinator/integration:f.txt") == "from z\n"


def test_summary_reaches_the_merge_commit_and_a_failed_marker_says_so(e2e: E2EProject) -> None:
    e2e.spec(
        "told", "@write told.txt x\n@marker done added told.txt for the docs", files=["told.txt"]
    )
    e2e.spec("gave-up", "@write g.txt x\n@marker failed the tests would not pass", files=["g.txt"])
    assert e2e.cli("run").returncode == 1
    body = e2e.git("log", "-1", "--format=%B", e2e.tasks()["told"]["merge_commit"])
    assert "Agent summary: added told.txt for the docs" in body
    merge = e2e.tasks()["told"]["merge_commit"]
    trailer = e2e.git("log", "-1", "--format=%(trailers:key=Coordinator-Task,valueonly)", merge)
    assert trailer.strip() == "told"  # the body does not hide the trailers from git
    failed = e2e.tasks()["gave-up"]
    assert (failed["state"], failed["reason"]) == ("failed", "the agent reported failure")
    assert failed["summary"] == "the tests would not pass"


def test_any_target_name_is_the_coordinator_s_own(e2e: E2EProject) -> None:
    e2e.spec("one", "@write one.txt 1", files=["one.txt"])
    result = e2e.cli("run", "--target", "agents/work")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "something other than the coordinator" not in result.stdout + result.stderr
    assert e2e.git("show", "agents/work:one.txt") == "1\n"


def test_on_violation_fail_keeps_the_work_off_the_target(e2e: E2EProject) -> None:
    e2e.config('on_violation = "fail"\n' + FAKE_CONFIG)
    e2e.spec("sloppy", "@write ok.txt a\n@write surprise.txt b", files=["ok.txt"],
             extra="footprint: declared")  # fmt: skip
    e2e.spec("after", "@write after.txt x", files=["after.txt"], deps=["sloppy"])
    head = e2e.git("rev-parse", "HEAD")
    assert e2e.cli("run").returncode == 1
    tasks = e2e.tasks()
    assert (tasks["sloppy"]["state"], tasks["sloppy"]["reason"]) == (
        "failed",
        "footprint violation",
    )
    assert tasks["sloppy"]["violations"] == ["surprise.txt"]
    assert e2e.git("show", f"{tasks['sloppy']['branch']}:surprise.txt") == "b\n"
    assert tasks["after"]["state"] == "skipped"
    assert e2e.git("rev-parse", "coordinator/integration") == head


def test_on_conflict_stop_keeps_the_branch_without_a_retry(e2e: E2EProject) -> None:
    e2e.config('on_conflict = "stop"\n' + FAKE_CONFIG)
    e2e.write("f.txt", "original\n")
    e2e.git("add", "f.txt")
    e2e.git("commit", "-q", "-m", "add f")
    e2e.spec("x", "@write f.txt from x", files=["f.txt"])
    e2e.spec("y", "@write f.txt from y\n@wait-merged x 30", files=["g.txt"],
             extra="footprint: declared")  # fmt: skip
    assert e2e.cli("run").returncode == 1
    tasks = e2e.tasks()
    assert tasks["x"]["state"] == "merged"
    assert (tasks["y"]["state"], tasks["y"]["attempt"]) == ("conflict", 1)
    assert tasks["y"]["branch"].startswith("coordinator/conflict/")
    assert e2e.git("show", f"{tasks['y']['branch']}:f.txt") == "from y\n"


def test_only_takes_several_ids_after_one_flag(e2e: E2EProject) -> None:
    for name in "abc":
        e2e.spec(name, f"@write {name}.txt {name}", files=[f"{name}.txt"])
    stray = e2e.cli("run", "a")
    assert stray.returncode == 2 and "name tasks after --only" in stray.stderr
    assert e2e.cli("run", "--only", "a", "b").returncode == 0
    assert {t["id"] for t in e2e.tasks().values()} == {"a", "b"}
    assert e2e.git("ls-tree", "--name-only", "coordinator/integration", "c.txt") == ""


def test_the_agent_gets_its_environment_and_the_run_sums_itself_up(
    e2e: E2EProject, tmp_path: Path
) -> None:
    seen = tmp_path / "env.json"
    e2e.spec("first", "@write first.txt 1", files=["first.txt"])
    e2e.spec("probe", f"Look around.\n@env {seen}\n@write probe.txt p", files=["probe.txt"],
             deps=["first"])  # fmt: skip
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads(seen.read_text())
    env, task = record["env"], e2e.tasks()["probe"]
    assert env["COORDINATOR_TASK_ID"] == "probe"
    assert env["COORDINATOR_RUN_ID"] == e2e.status()["run_id"]
    assert env["COORDINATOR_BASE"] == task["base"] == e2e.tasks()["first"]["merge_commit"]
    assert Path(env["COORDINATOR_WORKTREE"]) == Path(task["worktree"]) == Path(record["cwd"])
    spec_copy = Path(env["COORDINATOR_SPEC"]).read_text()  # the spec as planned, frozen
    assert "id: probe" in spec_copy and "Look around." in spec_copy
    assert "Look around." in Path(env["COORDINATOR_PROMPT_FILE"]).read_text()
    assert record["argv"][1] == env["COORDINATOR_PROMPT_FILE"]
    assert not Path(env["COORDINATOR_MARKER"]).is_relative_to(Path(task["worktree"]))
    summary = re.search(
        r"finished in [\d.]+s: agents worked [\d.]+s, up to (\d+) at once", result.stdout
    )  # a run this short has no meaningful speedup: it is left out
    assert summary is not None and summary.group(1) == "1", result.stdout
    assert "merged 2 of 2 tasks into coordinator/integration\n" in result.stdout


def test_second_run_is_a_noop(e2e: E2EProject) -> None:
    e2e.spec("once", "@write once.txt 1", files=["once.txt"])
    assert e2e.cli("run").returncode == 0
    head = e2e.git("rev-parse", "coordinator/integration")
    again = e2e.cli("run")
    assert again.returncode == 0
    assert "nothing to do" in again.stdout
    assert e2e.git("rev-parse", "coordinator/integration") == head


def test_sparse_checkout_writes_only_the_footprint_and_loses_nothing(e2e: E2EProject) -> None:
    # no pool: both worktrees stay where they ran, to be looked at
    e2e.config('checkout = "sparse"\nworktree_pool = 0\n' + FAKE_CONFIG)
    e2e.spec(
        "narrow",
        "@write src/new.txt n\n@write other/extra.txt e",
        files=["src/new.txt"],
        extra="footprint: declared",
    )
    # no footprint at all: exclusive, so a full checkout
    e2e.spec("wide", "@write wide.txt w", extra="footprint: declared")
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    tasks = e2e.tasks()
    worktree = Path(tasks["narrow"]["worktree"])
    assert not (worktree / "README.md").exists()  # outside the footprint: not checked out
    assert (Path(tasks["wide"]["worktree"]) / "README.md").exists()
    assert tasks["narrow"]["changed_files"] == ["other/extra.txt", "src/new.txt"]
    files = e2e.git("ls-tree", "-r", "--name-only", "coordinator/integration").split()
    assert {"README.md", "src/base.txt", "src/new.txt", "other/extra.txt", "wide.txt"} <= set(files)


def test_run_keeps_a_reverted_task_reverted_unless_named(e2e: E2EProject) -> None:
    e2e.spec("keep", "@write k.txt k", files=["k.txt"])
    e2e.spec("drop", "@write d.txt d", files=["d.txt"])
    assert e2e.cli("run").returncode == 0
    assert e2e.cli("revert", "drop").returncode == 0
    again = e2e.cli("run", "--json")
    assert again.returncode == 0
    assert '"event": "message"' in again.stdout and "nothing to do" in again.stdout
    assert "d.txt" not in e2e.git("ls-tree", "--name-only", "coordinator/integration")
    named = e2e.cli("run", "--only", "drop")
    assert named.returncode == 0, named.stdout + named.stderr
    assert "d.txt" in e2e.git("ls-tree", "--name-only", "coordinator/integration")
