"""What the Ray end-to-end suites share: the config of a run on a test cluster, the store's
events of the last run, and the processes a test cluster's nodes started."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from typing import TYPE_CHECKING, Any

import psutil
from e2e_util import FAKE_CONFIG, SCRIPTED, E2EProject

if TYPE_CHECKING:
    from ray.cluster_utils import Cluster

STORE = 80 * 1024**2  # object store bytes per node: bundles only


def started_by(cluster: Cluster) -> list[psutil.Process]:
    """Every process the cluster's nodes started (Ray's per-node agents and workers are
    children of the raylet, which ``Cluster.shutdown`` does not wait for)."""
    found = []
    for node in cluster.list_all_nodes():  # type: ignore[no-untyped-call]
        for infos in node.all_processes.values():
            for info in infos:
                with contextlib.suppress(psutil.Error):
                    found += psutil.Process(info.process.pid).children(recursive=True)
    return found


def ray_config(cluster: Cluster, extra: str = "", instances: int = 4) -> str:
    solo = f'\n[agents.solo]\ncommand = ["{{python}}", "{SCRIPTED}", "{{prompt_file}}"]\n'
    return (
        FAKE_CONFIG.replace("instances = 3", f'instances = {instances}\nexecutor = "ray"')
        + solo
        + f'\n[ray]\naddress = "{cluster.address}"\nmax_retries = 2\n'
        + extra
    )


def events(e2e: E2EProject, kind: str) -> list[dict[str, Any]]:
    """The last run's events of ``kind``, from the store itself."""
    with sqlite3.connect(e2e.root / ".git" / "coordinator" / "state.db") as con:
        rows = con.execute(
            "SELECT task_id, data FROM events WHERE kind = ? AND run_id = "
            "(SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1) ORDER BY id",
            (kind,),
        ).fetchall()
    return [{"task_id": task_id, "data": json.loads(data)} for task_id, data in rows]
