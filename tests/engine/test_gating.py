"""The merge queue with a gate, driven through the engine: speculation, batches, bisection."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gitutil import git
from harness import TARGET, EngineRun, config, spec


def merge_order(repo: Path) -> list[str]:
    log = git(repo, "log", "--first-parent", "--reverse", "--format=%s", TARGET)
    return [line.split(":")[0].removeprefix("Merge task ") for line in log.splitlines()[1:]]


def counting_gate(count: Path) -> list[str]:
    """A gate that notes each run in ``count`` and fails when ``bad.txt`` is in the checkout."""
    script = (
        "import pathlib, sys\n"
        "with open(sys.argv[1], 'a') as out: out.write('run\\n')\n"
        "sys.exit(1 if pathlib.Path('bad.txt').exists() else 0)\n"
    )
    return [sys.executable, "-c", script, str(count)]


def test_a_failing_task_in_a_batch_fails_alone_and_the_rest_land_in_order(
    repo: Path, tmp_path: Path
) -> None:
    count = tmp_path / "gate-runs"
    gate = json.dumps(counting_gate(count))
    extra = f"\n[merge]\nverify = {gate}\nparallel = 2\nbatch = 4\n"
    (repo / "coordinator.toml").write_text(config(instances=4, extra=extra))
    names = [f"t{i}" for i in range(8)]
    for name in names:
        body = f"@write {name}.txt {name}\n@marker done"
        if name == "t5":
            body = "@write bad.txt nope\n@write t5.txt t5\n@marker done"
        spec(repo, name, body)
    # t5 writes bad.txt, outside its footprint: a warning, not a failure
    summary = EngineRun(repo, instances=4).start().join(timeout=120)
    assert [u["id"] for u in summary.unmerged] == ["t5"], summary
    assert summary.unmerged[0]["state"] == "failed"
    assert "exited 1" in summary.unmerged[0]["reason"] or summary.unmerged[0]["reason"] == "verify"
    landed = merge_order(repo)
    assert sorted(landed) == sorted(n for n in names if n != "t5")
    assert git(repo, "show", f"{TARGET}:t0.txt").strip() == "t0"
    runs = len(count.read_text().split())
    assert runs <= 8  # bisection, not one gate per task after the failure


def test_every_task_lands_as_its_own_merge_commit_when_gates_run_side_by_side(
    repo: Path, tmp_path: Path
) -> None:
    count = tmp_path / "gate-runs"
    gate = json.dumps(counting_gate(count))
    (repo / "coordinator.toml").write_text(
        config(instances=3, extra=f"\n[merge]\nverify = {gate}\n")
    )
    for name in ("a", "b", "c", "d"):
        spec(repo, name, f"@write {name}.txt {name}\n@marker done")
    summary = EngineRun(repo, instances=3).start().join(timeout=120)
    assert summary.exit_code == 0, summary
    assert sorted(merge_order(repo)) == ["a", "b", "c", "d"]
    parents = git(repo, "log", "--first-parent", "--format=%p", TARGET).splitlines()[:4]
    assert all(len(p.split()) == 2 for p in parents)  # each a two-parent merge


def test_shared_changelog_tasks_run_side_by_side_and_union_merges_their_entries(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "CHANGES.rst").write_text("Changes\n=======\n\n")
    git(repo, "add", "CHANGES.rst")
    git(repo, "commit", "-qm", "changelog")
    sharing = '\n[overlap]\nshared = ["CHANGES*"]\nunion = ["CHANGES*"]\n'
    (repo / "coordinator.toml").write_text(config(instances=3, extra=sharing))
    names = ("a", "b", "c")
    for name in names:
        # each waits until all three run: only possible when nothing serialized them
        barrier = f"@touch {tmp_path / name}\n" + "".join(
            f"@wait {tmp_path / other} 60\n" for other in names if other != name
        )
        path = repo / "specs" / f"{name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f'---\nid: {name}\nagent: fake\nfiles: ["{name}.txt", "CHANGES.rst"]\n---\n'
            f"{barrier}@write {name}.txt {name}\n@append CHANGES.rst - entry {name}\n@marker done\n"
        )
    summary = EngineRun(repo, instances=3).start().join(timeout=120)
    assert summary.exit_code == 0, summary
    assert summary.max_parallel == 3  # the changelog overlap did not serialize them
    text = git(repo, "show", f"{TARGET}:CHANGES.rst")
    assert sorted(line for line in text.splitlines() if line.startswith("- ")) == [
        "- entry a", "- entry b", "- entry c",
    ]  # fmt: skip
