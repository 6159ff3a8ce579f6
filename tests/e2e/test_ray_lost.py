"""``executor = "ray"`` when the cluster goes away, and the refusals before a run: a cluster
of its own for the test that kills its head (the module cluster of ``test_ray`` must live on),
none for the refusals."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import psutil
import pytest
from e2e_util import FAKE_CONFIG, E2EProject, wait_until
from ray_util import STORE, ray_config, started_by

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
from ray.cluster_utils import Cluster  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


def test_a_cluster_whose_head_dies_ends_the_run_like_ctrl_c(
    e2e: E2EProject, tmp_path: Path
) -> None:
    """A dedicated small cluster (the module's must live on) loses its head while one task's
    agent waits on a node and another task has landed: the coordinator stops as on Ctrl-C
    (exit 1, one warning line, no traceback), and `run` again on a new Ray instance lands
    the rest, the landed task once."""
    doomed = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "object_store_memory": STORE, "include_dashboard": False})  # fmt: skip
    sig = tmp_path / "sig"
    sig.mkdir()
    strays: list[psutil.Process] = []
    try:
        doomed.add_node(num_cpus=1, resources={"agent:fake": 2}, object_store_memory=STORE)
        doomed.wait_for_nodes()
        e2e.config(ray_config(doomed))
        e2e.spec("quick", "@write quick.txt quick", files=["quick.txt"])
        e2e.spec("waits", f"@pid {sig}/pids\n@touch {sig}/running\n@wait {sig}/go 300\n"
                 "@write waits.txt waited", files=["waits.txt"])  # fmt: skip
        run = e2e.popen("run")
        try:
            wait_until("the waiting agent runs on a node", (sig / "running").exists, 120)
            wait_until("the quick task landed",
                       lambda: e2e.tasks()["quick"]["state"] == "merged", 120)  # fmt: skip
            assert doomed.head_node is not None
            strays = started_by(doomed)
            doomed.remove_node(doomed.head_node, allow_graceful=False)
            out, err = run.communicate(timeout=180)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
    finally:
        for pid in (sig / "pids").read_text().split() if (sig / "pids").exists() else []:
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
        with contextlib.suppress(Exception):
            doomed.shutdown()  # type: ignore[no-untyped-call]
        for stray in strays:  # a node's agents that wait a minute or two for a head gone
            with contextlib.suppress(psutil.Error):
                stray.kill()
    assert run.returncode == 1, out + err  # as after a first Ctrl-C: tasks left unmerged
    assert "Traceback" not in out + err
    said = (out + err).splitlines()
    warnings = [line for line in said if "Ray cluster cannot be reached" in line]
    assert len(warnings) == 1, out + err
    assert "stopping as on Ctrl-C" in warnings[0]
    tasks = e2e.tasks()
    assert tasks["quick"]["state"] == "merged"
    assert tasks["waits"]["state"] != "merged"
    (sig / "go").touch()
    e2e.config(ray_config(doomed).replace(f'address = "{doomed.address}"', 'address = "local"'))
    again = e2e.cli("run", timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    tasks = e2e.tasks()
    assert tasks["waits"]["state"] == "merged"
    assert e2e.git("show", "coordinator/integration:waits.txt") == "waited\n"
    log = e2e.git("log", "--format=%s", "coordinator/integration")
    assert log.count("Merge task quick") == 1 and log.count("Merge task waits") == 1


# ---------------------------------------------------------------- refusals (no cluster needed)
def test_without_ray_installed_the_run_is_refused_in_one_line(
    e2e: E2EProject, tmp_path: Path
) -> None:
    hidden = tmp_path / "no-ray"
    (hidden / "ray").mkdir(parents=True)
    (hidden / "ray" / "__init__.py").write_text("raise ImportError('no ray here')\n")
    e2e.config('executor = "ray"\n' + FAKE_CONFIG)
    e2e.spec("a", "@write a.txt a", files=["a.txt"])
    before = e2e.git("for-each-ref")
    result = e2e.cli("run", env={"PYTHONPATH": str(hidden)})
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "executor" in lines[0] and "pip install 'worktree-coordinator[ray]'" in lines[0]
    assert e2e.git("for-each-ref") == before
    assert not (e2e.root / ".git" / "coordinator" / "state.db").exists()


@pytest.mark.parametrize(
    ("table", "field"),
    [('address = "nowhere"', "address"), ("max_retries = -1", "max_retries"),
     ('adress = "auto"', "adress")],
)  # fmt: skip
def test_a_bad_ray_table_is_refused_naming_the_field(
    e2e: E2EProject, table: str, field: str
) -> None:
    e2e.config('executor = "ray"\n' + FAKE_CONFIG + f'\n[ray]\n{table}\n')
    e2e.spec("a", "@write a.txt a", files=["a.txt"])
    result = e2e.cli("validate")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"ray.{field}" in result.stderr, result.stderr


def test_an_unreachable_cluster_is_one_line_and_try_again_later(e2e: E2EProject) -> None:
    e2e.config('executor = "ray"\n' + FAKE_CONFIG + '\n[ray]\naddress = "127.0.0.1:1"\n')
    e2e.spec("a", "@write a.txt a", files=["a.txt"])
    result = e2e.cli("run")
    assert result.returncode == 75, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Ray cluster at '127.0.0.1:1'" in lines[0]
