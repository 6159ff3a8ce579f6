"""``executor = "ray"`` end to end: a real local Ray cluster of several simulated nodes
(Ray's own ``cluster_utils.Cluster``), the real CLI as its driver, fake agents.

One cluster serves the whole module (``xdist_group``: the tests of this file share an xdist
worker, so the 2-core machine starts it once). Its nodes: the head offers no agent; node
``a`` offers two ``fake`` agents, node ``b`` one ``fake`` and one ``solo``. A test that kills
a node adds its own. A cluster whose head dies, and the refusals before a run, are in
``test_ray_lost``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_util import SCRIPTED, E2EProject, alive, wait_until
from ray_util import STORE, events, ray_config

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
from ray.cluster_utils import Cluster  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "object_store_memory": STORE, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=1, resources={"agent:fake": 2}, object_store_memory=STORE)
    cluster.add_node(num_cpus=1, resources={"agent:fake": 1, "agent:solo": 1},
                     object_store_memory=STORE)  # fmt: skip
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()  # type: ignore[no-untyped-call]


def test_tasks_land_in_dependency_order_with_their_node(
    e2e: E2EProject, cluster: Cluster
) -> None:
    e2e.config(ray_config(cluster))
    e2e.spec("base-task", "@write lib.txt v1\n@marker done built lib", files=["lib.txt"])
    e2e.spec("mid", "@append lib.txt v2", files=["lib.txt"], deps=["base-task"])
    e2e.spec("top", "@write top.txt top\n@commit top by the agent", files=["top.txt"],
             deps=["mid"])  # fmt: skip
    e2e.spec("side", "@write side.txt side", files=["side.txt"], agent="solo")
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    tasks = e2e.tasks()
    assert {t["state"] for t in tasks.values()} == {"merged"}
    assert tasks["mid"]["base"] == tasks["base-task"]["merge_commit"]
    assert tasks["top"]["base"] == tasks["mid"]["merge_commit"]
    assert e2e.git("show", "coordinator/integration:lib.txt") == "v1\nv2\n"
    assert e2e.git("show", "coordinator/integration:top.txt") == "top\n"
    assert tasks["base-task"]["summary"] == "built lib"
    # every task ran on a node of the cluster, and solo only where it is offered
    nodes = {t["id"]: t["node"] for t in tasks.values()}
    assert all(nodes.values()), nodes
    assert len({nodes["side"]}) == 1
    status = e2e.cli("status")
    assert nodes["side"] in status.stdout
    assert Path(tasks["base-task"]["log"]).exists()
    logs = e2e.cli("logs", "base-task")
    assert f"on Ray node {nodes['base-task']}" in logs.stdout, logs.stdout + logs.stderr
    # where each task's time went on the Ray path, beside the engine's own phases
    (timing,) = [e["data"]["phases_ms"] for e in events(e2e, "timing") if e["task_id"] == "top"]
    ray_phases = {"ray_bundle", "ray_dispatch", "node_clone", "node_agent", "node_collect",
                  "ray_apply"}  # fmt: skip
    assert ray_phases <= set(timing), timing
    assert all(timing[p] >= 0 for p in ray_phases) and timing["node_clone"] > 0, timing


def test_caps_hold_per_node_and_per_type(
    e2e: E2EProject, cluster: Cluster, tmp_path: Path
) -> None:
    e2e.config(ray_config(cluster, instances=8))
    times = tmp_path / "times"
    times.mkdir()
    for i in range(5):
        e2e.spec(f"f{i}", f"@stamp {times}/f{i}\n@sleep 1\n@write f{i}.txt x\n@stamp {times}/f{i}",
                 files=[f"f{i}.txt"])  # fmt: skip
    for i in range(2):
        e2e.spec(f"s{i}", f"@stamp {times}/s{i}\n@sleep 1\n@write s{i}.txt x\n@stamp {times}/s{i}",
                 files=[f"s{i}.txt"], agent="solo")  # fmt: skip
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    tasks = e2e.tasks()
    assert {t["state"] for t in tasks.values()} == {"merged"}
    node_of = {e["task_id"]: e["data"]["node"] for e in events(e2e, "node")}
    assert set(node_of) == set(tasks)
    # when each agent really ran, as it said itself on its node
    ran = {}
    for task_id in tasks:
        start, end = (float(x) for x in (times / task_id).read_text().split())
        ran[task_id] = (start, end)
    by_node: dict[str, list[str]] = {}
    for task_id, node in node_of.items():
        by_node.setdefault(node, []).append(task_id)
    assert len(by_node) == 2, by_node  # the head offers no agent
    solo_nodes = {node_of["s0"], node_of["s1"]}
    assert len(solo_nodes) == 1  # only one node offers solo, once at a time
    assert not _overlaps(ran["s0"], ran["s1"])
    for node, ids in by_node.items():
        fakes = [ran[i] for i in ids if i.startswith("f")]
        cap = 1 if node in solo_nodes else 2
        assert _most_at_once(fakes) <= cap, (node, ids, ran)
    # Both nodes ran fakes at once (all three slots together needs a quiet machine: under
    # load a node's agents start seconds apart, so the full 3 is not asserted).
    assert _most_at_once([ran[i] for i in tasks if i.startswith("f")]) >= 2


def _overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    points = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    best = current = 0
    for _, delta in points:
        current += delta
        best = max(best, current)
    return best


def test_a_failing_task_keeps_its_branch(e2e: E2EProject, cluster: Cluster) -> None:
    e2e.config(ray_config(cluster))
    e2e.spec("bad", "@write half.txt half\n@exit 3", files=["half.txt"])
    e2e.spec("good", "@write good.txt ok", files=["good.txt"])
    result = e2e.cli("run")
    assert result.returncode != 0
    tasks = e2e.tasks()
    assert tasks["good"]["state"] == "merged"
    assert tasks["bad"]["state"] == "failed"
    branch = tasks["bad"]["branch"]
    assert branch
    assert e2e.git("show", f"{branch}:half.txt") == "half\n"
    assert "exit code 3" in (tasks["bad"]["reason"] or "")


def test_a_node_killed_mid_task_loses_nothing(
    e2e: E2EProject, cluster: Cluster, tmp_path: Path
) -> None:
    doomed = cluster.add_node(num_cpus=1, resources={"agent:doomed": 1},
                              object_store_memory=STORE)  # fmt: skip
    cluster.wait_for_nodes()
    sig = tmp_path / "sig"
    sig.mkdir()
    config = ray_config(cluster).replace("[ray]", "[agents.doomed]\ncommand = "
                                      f'["{{python}}", "{SCRIPTED}", "{{prompt_file}}"]\n\n[ray]')
    e2e.config(config)
    e2e.spec("fragile", f"@pid {sig}/pids\n@touch {sig}/running\n@wait {sig}/go 60\n"
             "@write fragile.txt done", files=["fragile.txt"], agent="doomed")  # fmt: skip
    run = e2e.popen("run")
    try:
        wait_until("the agent runs on the doomed node", (sig / "running").exists, timeout=90)
        (sig / "running").unlink()
        cluster.remove_node(doomed, allow_graceful=False)
        cluster.add_node(num_cpus=1, resources={"agent:doomed": 1}, object_store_memory=STORE)
        (sig / "go").touch()
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
        for pid in (sig / "pids").read_text().split() if (sig / "pids").exists() else []:
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
    assert run.returncode == 0, out + err
    tasks = e2e.tasks()
    assert tasks["fragile"]["state"] == "merged"
    assert e2e.git("show", "coordinator/integration:fragile.txt") == "done\n"
    log = e2e.git("log", "--format=%s", "coordinator/integration")
    assert log.count("Merge task fragile") == 1
    lost = events(e2e, "node-lost")
    assert len(lost) == 1 and lost[0]["data"]["retrying"] is True
    runs = [e["data"]["run"] for e in events(e2e, "node") if e["task_id"] == "fragile"]
    assert runs == [1, 2]


def test_a_killed_coordinator_recovers_and_its_ray_tasks_die(
    e2e: E2EProject, cluster: Cluster, tmp_path: Path
) -> None:
    """kill -9 right after a result came back (``after-marker-seen``) while another task's agent
    runs on a node: that agent dies with its Ray task, and the next run merges the returned
    work once and runs the cut-off task again."""
    sig = tmp_path / "sig"
    sig.mkdir()
    e2e.config(ray_config(cluster))
    e2e.spec("back", f"@wait {sig}/hang-running 60\n@write back.txt back\n@marker done",
             files=["back.txt"])  # fmt: skip
    e2e.spec("cut", f"@pid {sig}/pids\n@touch {sig}/hang-running\n@write cut.txt cut\n"
             f"@wait {sig}/release 60", files=["cut.txt"])  # fmt: skip
    crashed = e2e.cli("run", env={"COORDINATOR_FAULT": "after-marker-seen:1"})
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    pids = [int(p) for p in (sig / "pids").read_text().split()]
    try:
        wait_until("the cut-off agent is gone", lambda: not any(alive(p) for p in pids), 60)
    finally:
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    (sig / "release").touch()
    resumed = e2e.cli("run")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "adopted the finished work" in resumed.stdout
    tasks = e2e.tasks()
    assert {t["state"] for t in tasks.values()} == {"merged"}
    log = e2e.git("log", "--format=%s", "coordinator/integration")
    assert log.count("Merge task back") == 1 and log.count("Merge task cut") == 1
    assert e2e.git("show", "coordinator/integration:back.txt") == "back\n"


def test_a_timed_out_agent_is_cancelled_on_its_node(
    e2e: E2EProject, cluster: Cluster, tmp_path: Path
) -> None:
    sig = tmp_path / "sig"
    sig.mkdir()
    # Long enough for the node's clone and the agent's start on a loaded machine.
    e2e.config(ray_config(cluster).replace('timeout = "60s"', 'timeout = "15s"'))
    e2e.spec("slow", f"@pid {sig}/pids\n@write slow.txt begun\n@hang", files=["slow.txt"])
    result = e2e.cli("run")
    assert result.returncode == 1, result.stdout + result.stderr  # unmerged, no crash
    assert e2e.tasks()["slow"]["state"] == "failed"
    assert "timeout" in (e2e.tasks()["slow"]["reason"] or "")
    pids = [int(p) for p in (sig / "pids").read_text().split()]
    wait_until("the agent on the node is gone", lambda: not any(alive(p) for p in pids), 30)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap is not installed")
def test_a_sandboxed_agent_on_a_node_writes_only_its_clone(
    e2e: E2EProject, cluster: Cluster
) -> None:
    outside = Path(tempfile.mkdtemp(prefix="ray-outside-", dir="/var/tmp"))  # read-only inside
    try:
        e2e.config('isolation = "sandbox"\n' + ray_config(cluster))
        e2e.spec("boxed", f"@try @write-abs {outside}/escaped.txt escaped\n"
                 "@write boxed.txt boxed\n@marker done", files=["boxed.txt"])  # fmt: skip
        result = e2e.cli("run")
        assert result.returncode == 0, result.stdout + result.stderr
        assert not (outside / "escaped.txt").exists()
    finally:
        shutil.rmtree(outside, ignore_errors=True)
    task = e2e.tasks()["boxed"]
    assert task["state"] == "merged" and task["isolation"] == "sandbox" and task["node"]
    assert e2e.git("show", "coordinator/integration:boxed.txt") == "boxed\n"
    log = e2e.cli("logs", "boxed").stdout
    assert "@try @write-abs" in log and "Read-only file system" in log, log


# The setup "installs" a tool into vendor/ (ignored) that the agent then uses, and says where.
SETUP = (
    "import os, pathlib, sys\n"
    "task = os.environ['COORDINATOR_TASK_ID']\n"
    "print('installing for', task, flush=True)\n"
    "if task == 'broken':\n"
    "    print('npm ERR! network timeout'); sys.exit(3)\n"
    "pathlib.Path('vendor').mkdir(exist_ok=True)\n"
    "pathlib.Path('vendor/tool.txt').write_text(f'installed in {os.getcwd()}\\n')\n"
)
USES_TOOL = (
    "import os, pathlib\n"
    "task = os.environ['COORDINATOR_TASK_ID']\n"
    "pathlib.Path(f'{task}.txt').write_text(pathlib.Path('vendor/tool.txt').read_text())\n"
)


def test_worktree_setup_runs_on_the_node_before_the_agent(
    e2e: E2EProject, cluster: Cluster, tmp_path: Path
) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "setup.py").write_text(SETUP)
    (scripts / "agent.py").write_text(USES_TOOL)
    e2e.write(".gitignore", "vendor/\n")
    e2e.git("add", ".gitignore")
    e2e.git("commit", "-q", "-m", "ignore vendor")
    setup = json.dumps(["{python}", str(scripts / "setup.py")])
    agent = json.dumps(["{python}", str(scripts / "agent.py")])
    scripted = f'command = ["{{python}}", "{SCRIPTED}", "{{prompt_file}}"]'
    config = ray_config(cluster).replace(scripted, f"command = {agent}", 1)  # the fake type's
    e2e.config(config + f'\n[worktree]\nsetup = {setup}\nsetup_timeout = "60s"\n')
    e2e.spec("ok", "use the tool", files=["ok.txt"])
    e2e.spec("broken", "use the tool", files=["broken.txt"])
    result = e2e.cli("run")
    assert result.returncode == 1, result.stdout + result.stderr  # broken is not merged
    assert "not on the Ray nodes" not in result.stdout + result.stderr
    tasks = e2e.tasks()
    assert tasks["ok"]["state"] == "merged"
    installed = e2e.git("show", "coordinator/integration:ok.txt")
    local = e2e.root / "worktrees"
    assert installed.startswith("installed in ") and str(local) not in installed  # on the node
    assert "vendor" not in e2e.git("ls-tree", "-r", "--name-only", "coordinator/integration")
    log = e2e.cli("logs", "ok").stdout
    assert log.index("---- setup: ") < log.index("installing for ok") < log.index("---- agent: ")
    assert tasks["broken"]["state"] == "failed" and tasks["broken"]["reason"] == "setup"
    broken = e2e.cli("logs", "broken").stdout
    assert "npm ERR! network timeout" in broken and "---- agent: " not in broken
    failed = events(e2e, "setup-failed")
    assert [e["task_id"] for e in failed] == ["broken"]
    assert "exited 3" in failed[0]["data"]["message"]
