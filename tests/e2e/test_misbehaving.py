"""Misbehaving agents through the real CLI: every run ends, the target stays right, the task's
state and reason say what happened, and no process, git lock or repository lock is left."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Sequence
from pathlib import Path

import psutil
import pytest
from e2e_util import AGENTS, FAKE_CONFIG, E2EProject

TARGET = "coordinator/integration"
LOG_LIMIT = 1024 * 1024
CONFIG = (
    f"log_limit = {LOG_LIMIT}\n"
    + FAKE_CONFIG
    + "".join(
        f'\n[agents.{name}]\ncommand = ["{{python}}", "{AGENTS / script}"]\n'
        for name, script in (
            ("hang", "hang.py"),
            ("daemon", "double_fork_setsid.py"),
            ("spew", "spew.py"),
        )
    )
)


@pytest.fixture
def proj(e2e: E2EProject) -> E2EProject:
    e2e.config(CONFIG)
    return e2e


def assert_merged(task: dict[str, object], reason: str = "") -> None:
    """Landed, with no failure to explain (``reason`` "no changes" for an agent that wrote
    nothing)."""
    assert (task["state"], task.get("reason") or "") == ("merged", reason), task


def spec(
    proj: E2EProject,
    task_id: str,
    body: str,
    *,
    agent: str = "fake",
    deps: Sequence[str] = (),
    timeout: str | None = None,
) -> None:
    """A spec touching ``<id>.txt``, with no footprint inferred from its directives."""
    extra = "footprint: declared" + (f"\ntimeout: {timeout}" if timeout else "")
    proj.spec(task_id, body, agent=agent, deps=deps, files=[f"{task_id}.txt"], extra=extra)


def run(proj: E2EProject, code: int) -> str:
    """``coordinator run``; checks the exit code and that nothing was left behind."""
    result = proj.cli("run")
    out = result.stdout + result.stderr
    assert result.returncode == code, out
    assert_nothing_left(proj, proj.status()["run_id"])
    return out


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_nothing_left(proj: E2EProject, run_id: str) -> None:
    """No process of this run, no git ``*.lock`` file, and the repository lock free."""
    strays = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("COORDINATOR_RUN_ID") == run_id and alive(proc.pid):
                strays.append(proc.pid)
        except psutil.Error:
            continue
    assert strays == []
    assert sorted((proj.root / ".git").rglob("*.lock")) == []
    lock = proj.root / ".git" / "coordinator" / "lock"
    if lock.exists():
        with lock.open("rb") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if still held


def show(proj: E2EProject, rel: str, rev: str = TARGET) -> str:
    return proj.git("show", f"{rev}:{rel}")


def is_ancestor(proj: E2EProject, a: str, b: str) -> bool:
    try:
        proj.git("merge-base", "--is-ancestor", a, b)
    except Exception:
        return False
    return True


# --------------------------------------------------------------------------- processes
def test_silent_hang_times_out_and_its_children_die(proj: E2EProject, tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    spec(proj, "sleeper", f"FAKE: --children 2 --ready {ready}", agent="hang", timeout="1s")
    run(proj, 1)
    task = proj.tasks()["sleeper"]
    assert (task["state"], task["reason"]) == ("failed", "timeout")
    pids = json.loads(ready.read_text())
    assert not any(alive(pid) for pid in [pids["pid"], *pids["children"]])
    assert proj.git("rev-parse", TARGET) == proj.git("rev-parse", "main")


def test_double_forked_setsid_daemon_is_killed(proj: E2EProject, tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    spec(proj, "daemonizer", f"FAKE: --ready {ready}", agent="daemon")
    run(proj, 0)  # assert_nothing_left scans every process for this run's environment
    assert_merged(proj.tasks()["daemonizer"], "no changes")
    if ready.exists():  # the daemon may be killed before it got to report
        report = json.loads(ready.read_text())
        assert report["daemon_sid"] != report["agent"]
        assert not alive(report["daemon"])


def test_sixty_megabytes_of_output_are_capped_at_log_limit(proj: E2EProject) -> None:
    spec(proj, "chatty", "FAKE: --bytes 60M", agent="spew")
    run(proj, 0)
    task = proj.tasks()["chatty"]
    assert_merged(task, "no changes")
    size = Path(task["log"]).stat().st_size
    assert LOG_LIMIT <= size <= LOG_LIMIT + 200
    assert b"log truncated" in Path(task["log"]).read_bytes()[-200:]


# ----------------------------------------------------------------------------- markers
def test_marker_that_is_not_json_fails_and_keeps_the_work(proj: E2EProject) -> None:
    spec(proj, "garbled", "@write garbled.txt half\n@marker-raw {this is not json")
    run(proj, 1)
    task = proj.tasks()["garbled"]
    assert task["state"] == "failed"
    assert "marker" in task["reason"]
    assert show(proj, "garbled.txt", task["branch"]) == "half\n"


def test_marker_then_endless_editing_lands_and_the_run_ends(proj: E2EProject) -> None:
    spec(proj, "fidget", "@write fidget.txt first\n@marker done\n@keep-editing fidget.txt")
    run(proj, 0)
    assert_merged(proj.tasks()["fidget"])
    assert show(proj, "fidget.txt").startswith("first\n")


# ------------------------------------------------------------------------ git behaviour
def test_agent_that_commits_by_itself_lands_with_its_commit(proj: E2EProject) -> None:
    spec(proj, "selfie", "@write selfie.txt mine\n@commit agent made this commit")
    run(proj, 0)
    assert_merged(proj.tasks()["selfie"])
    mine = proj.git("log", "--format=%H", "--grep=agent made this commit", TARGET).split()
    assert len(mine) == 1
    assert proj.git("log", "-1", "--format=%an", mine[0]).strip() == "agent"


def test_index_lock_left_behind_still_lands(proj: E2EProject) -> None:
    spec(proj, "locker", "@write locker.txt x\n@gitdir-touch index.lock")
    run(proj, 0)  # assert_nothing_left: no index.lock anywhere under .git
    assert_merged(proj.tasks()["locker"])
    assert show(proj, "locker.txt") == "x\n"


def test_no_changes_lands_as_an_empty_merge_and_dependents_go_on(proj: E2EProject) -> None:
    spec(proj, "idle", "@sleep 0")
    spec(proj, "after-idle", "@write after-idle.txt x", deps=["idle"])
    run(proj, 0)
    tasks = proj.tasks()
    assert {t["state"] for t in tasks.values()} == {"merged"}
    merge = tasks["idle"]["merge_commit"]
    trees = proj.git("rev-parse", f"{merge}^{{tree}}", f"{merge}^1^{{tree}}").split()
    assert trees[0] == trees[1]
    assert tasks["after-idle"]["base"] == merge
    assert tasks["idle"]["reason"] == "no changes"
    body = proj.git("log", "-1", "--format=%B", merge)
    assert "landed with no changes" in body
    assert "no changes" not in proj.git(
        "log", "-1", "--format=%B", tasks["after-idle"]["merge_commit"]
    )


EXTRA_REFS = "@write tagger.txt x\n@git branch agent-extra\n@git tag agent-tag\n" \
             "@git tag -a -m note agent-annotated"  # fmt: skip


def test_extra_branches_and_tags_are_kept(proj: E2EProject) -> None:
    spec(proj, "tagger", EXTRA_REFS)
    run(proj, 0)
    assert_merged(proj.tasks()["tagger"])
    refs = proj.git("for-each-ref", "--format=%(refname)").split()
    assert {"refs/heads/agent-extra", "refs/tags/agent-tag", "refs/tags/agent-annotated"} <= set(
        refs
    )


def test_extra_branches_and_tags_are_reported(proj: E2EProject) -> None:
    spec(proj, "tagger", EXTRA_REFS)
    out = run(proj, 0)
    for ref in ("refs/heads/agent-extra", "refs/tags/agent-tag", "refs/tags/agent-annotated"):
        assert ref in out


def test_work_on_another_branch_is_recovered_and_lands(proj: E2EProject) -> None:
    spec(proj, "wanderer", "@git switch -q -c agent-side\n@write side.txt s\n"
         "@commit side work\n@write wanderer.txt m")  # fmt: skip
    out = run(proj, 0)
    task = proj.tasks()["wanderer"]
    assert_merged(task)
    assert (show(proj, "side.txt"), show(proj, "wanderer.txt")) == ("s\n", "m\n")
    side = proj.git("rev-parse", "agent-side").strip()
    assert is_ancestor(proj, side, TARGET)  # the agent's branch is kept where it left it
    assert "agent-side" in out


def test_branch_reset_before_the_base_is_not_merged_and_kept(proj: E2EProject) -> None:
    proj.write("src/second.txt", "second\n")
    proj.git("add", "src/second.txt")
    proj.git("commit", "-q", "-m", "second")  # so the base has a parent to reset to
    base = proj.git("rev-parse", "HEAD").strip()
    spec(proj, "rewinder", "@write rewinder.txt x\n@git reset -q --hard HEAD~1")
    spec(proj, "after-rewind", "@write after-rewind.txt x", deps=["rewinder"])
    spec(proj, "bystander", "@write bystander.txt x")
    run(proj, 1)
    tasks = proj.tasks()
    rewinder = tasks["rewinder"]
    assert rewinder["state"] == "failed"
    assert "reset behind its base" in rewinder["reason"]
    # reset --hard keeps untracked files: rewinder.txt is committed on top of where it reset to
    kept = proj.git("rev-parse", f"{rewinder['branch']}^", f"{base}~1").split()
    assert kept[0] == kept[1]
    assert show(proj, "rewinder.txt", rewinder["branch"]) == "x\n"
    assert tasks["after-rewind"]["state"] == "skipped"
    assert tasks["after-rewind"]["reason"] == "dependency rewinder was not merged"
    assert_merged(tasks["bystander"])
    assert show(proj, "src/second.txt") == "second\n"  # the target still has the base


def test_agent_deleting_its_own_worktree_is_handled(proj: E2EProject) -> None:
    spec(proj, "vandal", "@write vandal.txt x\n@commit before leaving\n@rmtree .")
    spec(proj, "after-vandal", "@write after-vandal.txt x", deps=["vandal"])
    out = run(proj, 0)
    assert {t["state"] for t in proj.tasks().values()} == {"merged"}, out
    assert show(proj, "vandal.txt") == "x\n"


def test_agent_deleting_its_own_worktree_is_noted_and_pruned(proj: E2EProject) -> None:
    spec(proj, "vandal", "@write vandal.txt x\n@commit before leaving\n@rmtree .")
    out = run(proj, 0)
    assert "deleted its worktree" in out
    assert "prunable" not in proj.git("worktree", "list", "--porcelain")


def test_write_into_the_users_checkout_is_left_there(proj: E2EProject) -> None:
    spec(proj, "intruder", "@write ../../intruded.txt from the agent\n@write intruder.txt x")
    run(proj, 0)
    assert_merged(proj.tasks()["intruder"])
    assert (proj.root / "intruded.txt").read_text() == "from the agent\n"


def test_write_into_the_users_checkout_is_reported(proj: E2EProject) -> None:
    spec(proj, "intruder", "@write ../../intruded.txt from the agent\n@write intruder.txt x")
    out = run(proj, 0)
    assert "intruded.txt" in out
    assert (proj.root / "intruded.txt").read_text() == "from the agent\n"


def test_write_into_another_task_s_worktree_is_reported_on_that_task(
    proj: E2EProject, tmp_path: Path
) -> None:
    """No process can be told from another by the files it leaves, so the foreign file shows
    up as work of the task whose worktree it is in: a footprint violation, named loudly on the
    task, its merge commit (trailer) and in the run's events."""
    victim_started, planted = tmp_path / "victim-started", tmp_path / "planted"
    spec(proj, "victim", f"@touch {victim_started}\n@wait {planted} 30\n@write victim.txt v")
    spec(
        proj,
        "attacker",
        f"@wait {victim_started} 30\n@write ../victim/planted.txt evil\n@touch {planted}\n"
        "@write attacker.txt a",
    )
    out = run(proj, 0)
    victim = proj.tasks()["victim"]
    assert victim["violations"] == ["planted.txt"]
    assert "another agent may have written into its worktree" in out
    trailer = "%(trailers:key=Coordinator-Footprint-Violations,valueonly)"
    assert proj.git("log", "-1", f"--format={trailer}", victim["merge_commit"]).strip() == (
        "planted.txt"
    )
    assert proj.tasks()["attacker"]["violations"] == []
