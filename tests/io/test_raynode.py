"""The Ray node's side of a task (``coordinator.io.raynode``), run as plain Python: no Ray,
a real bundle of a real repository, the real fake agent. What the node hands back must be
exactly what the coordinator needs: the work as a bundle on top of the base, the marker, the
log, and how the agent ended."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitutil import git

from coordinator.core.config import Identity
from coordinator.core.refs import branch_ref, task_branch
from coordinator.io.gitrepo import GitRepo
from coordinator.io.gitworktree import clone_bare, transport_of
from coordinator.io.raynode import NodeJob, NodeResult, run_task

SCRIPTED = Path(__file__).resolve().parents[1] / "agents" / "scripted.py"
# A run id of its own: a coordinator recovering a cut-off run in a test running beside this
# one kills every process on the machine that carries that run's id (``procs.kill_run``).
RUN_ID = "raynode-" + uuid.uuid4().hex[:12]


def _job(repo: Path, prompt: str, task_id: str = "t1") -> NodeJob:
    base = git(repo, "rev-parse", "HEAD").strip()
    values = {"task_id": task_id, "prompt": prompt, "base": base, "run_id": RUN_ID,
              "worktree": "/nowhere", "marker": "/nowhere", "spec": "/nowhere",
              "prompt_file": "/nowhere", "python": "/nowhere"}  # fmt: skip
    return NodeJob(
        task_id=task_id, run_id=RUN_ID, attempt=1, branch=task_branch(task_id), base=base,
        command=("{python}", str(SCRIPTED), "{prompt_file}"),
        extra_env={"COORDINATOR_ATTEMPT": "1"}, values=values, spec_text="spec",
        log_limit=1 << 20, grace=1.0, identity=Identity(), message_ok="left by t1",
        message_wip="WIP t1",
    )  # fmt: skip


def _bundle(repo: Path, tmp_path: Path, job: NodeJob) -> bytes:
    with GitRepo.discover(repo) as gitrepo:
        gitrepo.create_branch(job.branch, job.base)
        out = tmp_path / "base.bundle"
        assert gitrepo.bundle_create(out, branch_ref(job.branch))
        gitrepo.delete_branch(job.branch)
    return out.read_bytes()


def _run(job: NodeJob, bundle: bytes) -> tuple[list[tuple[str, object]], NodeResult]:
    items = list(run_task(job, bundle, "node-1"))
    assert items[0] == ("started", "node-1")
    kind, result = items[-1]
    assert kind == "done" and isinstance(result, NodeResult)
    return items, result


def _take(repo: Path, tmp_path: Path, result: NodeResult) -> None:
    assert result.bundle is not None
    path = tmp_path / "result.bundle"
    path.write_bytes(result.bundle)
    with GitRepo.discover(repo) as gitrepo:
        gitrepo.bundle_unbundle(path)


def test_the_work_comes_back_as_a_bundle_on_the_base(repo: Path, tmp_path: Path) -> None:
    job = _job(repo, "@write out.txt hello\n@commit agent commit\n@write more.txt left\n"
               "@marker done all good\n")  # fmt: skip
    _, result = _run(job, _bundle(repo, tmp_path, job))
    assert result.returncode == 0 and result.error == "" and result.node == "node-1"
    assert json.loads(result.marker or b"") == {"status": "done", "summary": "all good"}
    _take(repo, tmp_path, result)
    # the agent's commit, then the leftover file committed on the node, on top of the base
    assert git(repo, "merge-base", "--is-ancestor", job.base, result.head) == ""
    assert git(repo, "show", f"{result.head}:out.txt") == "hello\n"
    assert git(repo, "show", f"{result.head}:more.txt") == "left\n"
    subjects = git(repo, "log", "--format=%s", f"{job.base}..{result.head}").splitlines()
    assert subjects == ["left by t1", "agent commit"]
    assert git(repo, "branch", "--list", job.branch) == ""  # nothing moved here


def test_a_failing_agent_hands_back_its_work_and_exit_code(repo: Path, tmp_path: Path) -> None:
    job = _job(repo, "@write half.txt half\n@exit 3\n")
    _, result = _run(job, _bundle(repo, tmp_path, job))
    assert result.returncode == 3 and result.marker is None
    _take(repo, tmp_path, result)
    assert git(repo, "log", "-1", "--format=%s", result.head).strip() == "WIP t1"
    assert git(repo, "show", f"{result.head}:half.txt") == "half\n"


def test_no_change_means_no_bundle_and_a_missing_program_is_said(
    repo: Path, tmp_path: Path
) -> None:
    job = _job(repo, "@marker done\n")
    bundle = _bundle(repo, tmp_path, job)
    _, result = _run(job, bundle)
    assert result.bundle is None and result.head == job.base
    missing = NodeJob(**{**job.__dict__, "command": ("no-such-agent-program", "{prompt_file}")})
    items, result = _run(missing, bundle)
    assert result.returncode == 127
    assert result.error.startswith("could not start no-such-agent-program")
    logs = b"".join(v for k, v in items if k == "log" and isinstance(v, bytes))
    assert b"no-such-agent-program" in logs


def test_the_log_is_streamed_and_capped(repo: Path, tmp_path: Path) -> None:
    job = _job(repo, "@marker done\n")
    spew = (sys.executable, "-c", "print('x' * 5000); print('end')")
    job = NodeJob(**{**job.__dict__, "command": spew, "log_limit": 1024})
    items, result = _run(job, _bundle(repo, tmp_path, job))
    logs = b"".join(v for k, v in items if k == "log" and isinstance(v, bytes))
    assert len(logs) == 1024 and logs.startswith(b"xxx")
    assert result.returncode == 0


def test_a_node_clones_its_bundle_although_every_other_transport_stays_off(tmp_path: Path) -> None:
    """The hardened git environment sets ``protocol.allow=never``; the node's clone of the
    shipped bundle is allowed the file transport alone, and only for that command."""
    source = tmp_path / "source"
    source.mkdir()
    git(source, "init", "-q", "-b", "main")
    git(source, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty",
        "-m", "base")  # fmt: skip
    git(source, "bundle", "create", "-q", str(tmp_path / "base.bundle"), "main")
    clone_bare(str(tmp_path / "base.bundle"), tmp_path / "repo.git")
    assert git(tmp_path / "repo.git", "rev-parse", "main") == git(source, "rev-parse", "main")
    assert [
        transport_of(s) for s in ("/a/b.bundle", "https://h/r", "git@h:r.git", "ssh://h/r")
    ] == ["file", "https", "ssh", "ssh"]


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory the test owns outside ``/tmp``: inside a sandbox it is there, read-only
    (under ``/tmp`` it would merely be missing from the sandbox's private ``/tmp``)."""
    path = Path(tempfile.mkdtemp(prefix="raynode-outside-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap is not installed")
def test_a_sandboxed_agent_writes_only_its_clone(
    repo: Path, tmp_path: Path, outside: Path
) -> None:
    job = _job(repo, f"@try @write-abs {outside}/escaped.txt escaped\n@write in.txt in\n"
               "@commit inside the sandbox\n@marker done\n")  # fmt: skip
    job = NodeJob(**{**job.__dict__, "sandbox": True})
    items, result = _run(job, _bundle(repo, tmp_path, job))
    logs = b"".join(v for k, v in items if k == "log" and isinstance(v, bytes)).decode()
    assert result.returncode == 0, logs
    assert not (outside / "escaped.txt").exists()
    assert "@try @write-abs" in logs and "Read-only file system" in logs, logs
    _take(repo, tmp_path, result)
    assert git(repo, "show", f"{result.head}:in.txt") == "in\n"
    assert git(repo, "log", "-1", "--format=%s", result.head).strip() == "inside the sandbox"
    # the same attempt unsandboxed does write there: the sandbox, not the path, refused it
    _run(NodeJob(**{**job.__dict__, "sandbox": False}), _bundle(repo, tmp_path, job))
    assert (outside / "escaped.txt").read_text() == "escaped\n"


SETUP = (
    "import os, pathlib, sys\n"
    "print('installing for', os.environ['COORDINATOR_TASK_ID'], flush=True)\n"
    "if len(sys.argv) > 1:\n"
    "    print('npm ERR! network timeout'); sys.exit(3)\n"
    "pathlib.Path('installed.txt').write_text('by setup\\n')\n"
)


def _setup_item(items: list[tuple[str, object]]) -> tuple[bool, str, float]:
    """The one ``("setup", (ok, detail, seconds))`` item the node yielded."""
    (value,) = [v for k, v in items if k == "setup"]
    assert isinstance(value, tuple)
    return value


def test_setup_runs_in_the_clone_before_the_agent(repo: Path, tmp_path: Path) -> None:
    job = _job(repo, "@write out.txt agent\n@marker done\n")
    job = NodeJob(**{**job.__dict__, "setup": ("{python}", "-c", SETUP), "setup_timeout": 30.0})
    items, result = _run(job, _bundle(repo, tmp_path, job))
    assert result.returncode == 0
    assert _setup_item(items)[:2] == (True, "")
    logs = b"".join(v for k, v in items if k == "log" and isinstance(v, bytes)).decode()
    # the setup's header and output, then the agent's header, as a local log has them
    setup_at = logs.index("[coordinator] ---- setup: ")
    assert logs.index("installing for t1") > setup_at
    assert logs.index("[coordinator] ---- agent: ") > logs.index("setup exited 0")
    _take(repo, tmp_path, result)
    assert git(repo, "show", f"{result.head}:installed.txt") == "by setup\n"
    assert git(repo, "show", f"{result.head}:out.txt") == "agent\n"


def test_a_failing_setup_fails_the_task_and_the_agent_never_runs(
    repo: Path, tmp_path: Path
) -> None:
    job = _job(repo, f"@touch {tmp_path}/agent-ran\n@marker done\n")
    setup = ("{python}", "-c", SETUP, "fail")
    job = NodeJob(**{**job.__dict__, "setup": setup, "setup_timeout": 30.0})
    items, result = _run(job, _bundle(repo, tmp_path, job))
    ok, detail, _ = _setup_item(items)
    assert ok is False and "exited 3" in detail and "npm ERR! network timeout" in detail
    assert result.returncode != 0 and result.bundle is None and result.marker is None
    assert not (tmp_path / "agent-ran").exists()
    logs = b"".join(v for k, v in items if k == "log" and isinstance(v, bytes)).decode()
    assert "npm ERR! network timeout" in logs and "---- agent: " not in logs


def test_a_filter_the_agent_defines_never_runs_when_the_node_collects(
    repo: Path, tmp_path: Path
) -> None:
    """The agent can write its clone's config (and must, to commit): a clean filter it
    defines there runs nothing when the node commits its leftover files."""
    plant = tmp_path / "plant.sh"
    plant.write_text(f"#!/bin/sh\ntouch {tmp_path}/ran-$1\ncat\n")
    plant.chmod(0o755)
    job = _job(repo, "@write .gitattributes * filter=evil\n@write left.txt left\n"
               f"@git config filter.evil.clean '{plant} clean'\n@marker done\n")  # fmt: skip
    _, result = _run(job, _bundle(repo, tmp_path, job))
    assert result.returncode == 0
    assert not (tmp_path / "ran-clean").exists()
    _take(repo, tmp_path, result)
    assert git(repo, "show", f"{result.head}:left.txt") == "left\n"
