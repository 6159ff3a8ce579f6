"""The attack corpus: agents that reach past their task, in every isolation mode.

Each attack is a small agent script (directives of ``tests/agents/scripted.py``). A run has three
tasks: ``victim`` lands first, then ``attacker`` (which depends on it, so the victim's branch is
at rest and the attacker's agent runs alone), then ``bystander``. What must hold, in every mode
and for every attack:

* nothing planted runs in the coordinator's process: every planted program is ``plant.sh``,
  which leaves a proof file only when it runs outside an agent's process tree (an agent running
  what it planted itself, in its own clone, is its own business);
* the repository's config, hooks and attribute files end byte for byte as they began;
* the target's first-parent history holds only task merges, ending where the coordinator put
  it, and the victim's branch holds what was merged;
* no task merges tampered state: an attacker whose change is pinned on it fails ``tampered``;
  otherwise the attack left nothing in what it merged;
* every other task lands (victim and bystander);
* in ``sandbox``, no write outside the task's directory succeeds.

Each attack adds what it must do per mode (``expect``: the attacker's end state, or ``any`` where
the mode cannot tell an attack from a task's own business) and its own checks.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from e2e_util import SCRIPTED, E2EProject

from coordinator.io.runfiles import store_path
from coordinator.io.store import Store

MODES = ("worktree", "clone", "sandbox")
HOOKS = (  # githooks(5), git 2.39
    "applypatch-msg", "pre-applypatch", "post-applypatch", "pre-commit", "pre-merge-commit",
    "prepare-commit-msg", "commit-msg", "post-commit", "pre-rebase", "post-checkout",
    "post-merge", "pre-push", "pre-receive", "update", "proc-receive", "post-receive",
    "post-update", "reference-transaction", "push-to-checkout", "pre-auto-gc", "post-rewrite",
    "sendemail-validate", "fsmonitor-watchman", "p4-changelist", "p4-prepare-changelist",
    "p4-post-changelist", "p4-pre-submit", "post-index-change",
)  # fmt: skip
SANDBOX_SKIP = "bwrap is not installed: install the Debian package bubblewrap to run these"


@dataclass
class Lab:
    """One attack's repository and the paths its agents and checks use."""

    project: E2EProject
    proof: Path  # plant.sh leaves files here when run outside an agent
    plant: Path
    outside: Path  # a directory outside the repository, for writes that must fail in sandbox
    started: str = ""  # the user's main branch when the run started

    @property
    def root(self) -> Path:
        return self.project.root

    def git(self, *args: str) -> str:
        return self.project.git(*args).strip()


@dataclass(frozen=True)
class Attack:
    body: str  # the attacker's directives; {repo} {plant} {proof} {outside} are filled in
    expect: dict[str, str]  # mode -> the attacker's end state ("any": not judged)
    check: Callable[[Lab, str, dict[str, dict[str, object]]], None] | None = None
    setup: str = ""  # directives the victim runs first (e.g. files the attack needs)
    slow: bool = False
    concurrent: bool = False  # the victim runs beside the attacker (waits for its signal)
    extra_config: str = ""
    files: list[str] = field(default_factory=lambda: ["attack.txt"])
    review: bool = False  # run `coordinator review --patch` afterwards (it diffs)


def _tampered_unless_sandboxed(sandbox: str = "tampered") -> dict[str, str]:
    return {"worktree": "tampered", "clone": "tampered", "sandbox": sandbox}


def _main_repo_only() -> dict[str, str]:
    """An attack through the agent's own git: it reaches the shared repository in worktree
    mode only; a clone's refs are the agent's own."""
    return {"worktree": "tampered", "clone": "merged", "sandbox": "merged"}


def _user_refs_reported(ref: str) -> Callable[[Lab, str, dict[str, dict[str, object]]], None]:
    """Worktree mode: moved, reported with the command that restores it, not undone. Clone and
    sandbox: the agent moved its own clone's ref; the user's did not move."""

    def check(lab: Lab, mode: str, tasks: dict[str, dict[str, object]]) -> None:
        if mode == "worktree":
            events = _events(lab)
            assert any(f"git update-ref {ref} " in e for e in events), events
            assert lab.git("rev-parse", f"{ref}^{{commit}}") != lab.git("rev-parse", "main")
        else:
            assert lab.git("rev-parse", f"{ref}^{{commit}}") == lab.git("rev-parse", "main")

    return check


def _unchanged_user_checkout(lab: Lab, mode: str, tasks: dict[str, dict[str, object]]) -> None:
    readme = (lab.root / "README.md").read_text()
    if mode == "sandbox":
        assert readme == "# test repo\n"
    else:  # reported, never undone: the user may be editing too
        assert "README.md" in "\n".join(_events(lab)) and "YOUR CHECKOUT CHANGED" in "\n".join(
            _events(lab)
        )


def _symlink_not_merged(lab: Lab, mode: str, tasks: dict[str, dict[str, object]]) -> None:
    assert "symlink" in str(tasks["attacker"]["reason"])
    assert (lab.root / ".git" / "config").is_file()


def _injection(lab: Lab, mode: str, tasks: dict[str, dict[str, object]]) -> None:
    merged = lab.git("ls-tree", "-r", "--name-only", "coordinator/integration").split()
    if mode == "sandbox":
        assert "injected.txt" not in merged
    else:  # worktree and clone do not confine files: the victim's footprint says it
        assert tasks["victim"]["violations"] == ["injected.txt"]


def _disk(lab: Lab, mode: str, tasks: dict[str, dict[str, object]]) -> None:
    log = Path(str(tasks["attacker"]["log"]))
    assert log.stat().st_size < 1_100_000  # log_limit, plus the truncation note
    assert not (lab.root / ".git" / "hooks" / "junk").exists()


def _gitfile(lab: Lab, mode: str, tasks: dict[str, dict[str, object]]) -> None:
    """Through the redirected .git the agent may commit onto the user's checked-out branch
    (not in sandbox): reported with the command that restores it, never merged."""
    main = lab.git("rev-parse", "main")
    if main != lab.started:
        assert any("git update-ref refs/heads/main " in e for e in _events(lab))
        landed = subprocess.run(["git", "merge-base", "--is-ancestor", "main",
                                 "coordinator/integration"], cwd=lab.root, check=False)
        assert landed.returncode == 1  # the hijacking commit is not in the target
    assert mode != "sandbox" or main == lab.started


PLANTED_HOOKS = "\n".join(
    f"@try @common-write hooks/{hook} #!/bin/sh\\nexec {{plant}} hook-{hook}\\n" for hook in HOOKS
)

ATTACKS: dict[str, Attack] = {
    "move-target": Attack(
        "@write attack.txt a\n@commit attack\n"
        "@try @git update-ref refs/heads/coordinator/integration HEAD", _main_repo_only(),
    ),
    "move-user-branch": Attack(
        "@write attack.txt a\n@commit attack\n@try @git update-ref refs/heads/feature HEAD",
        {"worktree": "merged", "clone": "merged", "sandbox": "merged"},
        _user_refs_reported("refs/heads/feature"),
    ),
    "move-tag": Attack(
        "@write attack.txt a\n@commit attack\n@try @git tag -f v1 HEAD",
        {"worktree": "merged", "clone": "merged", "sandbox": "merged"},
        _user_refs_reported("refs/tags/v1"),
    ),
    "move-other-task-branch": Attack(
        "@write attack.txt a\n@commit attack\n"
        "@try @git update-ref refs/heads/coordinator/task/victim HEAD", _main_repo_only(),
    ),
    "delete-branches": Attack(
        "@write attack.txt a\n@try @git update-ref -d refs/heads/coordinator/task/victim\n"
        "@try @git update-ref -d refs/heads/coordinator/integration", _main_repo_only(),
    ),
    "plant-every-hook": Attack(
        "@write attack.txt a\n" + PLANTED_HOOKS + "\n@try @git add -A\n@try @git commit -m x",
        _tampered_unless_sandboxed(),
    ),
    "hooks-path": Attack(
        "@write attack.txt a\n@try @git config core.hooksPath {outside}/hooks",
        _tampered_unless_sandboxed(),
    ),
    "fsmonitor": Attack(
        "@write attack.txt a\n@try @git config core.fsmonitor {plant}", _tampered_unless_sandboxed()
    ),
    "filter": Attack(
        "@write .gitattributes * filter=evil\n@write attack.txt a\n"
        "@try @git config filter.evil.clean '{plant} clean'\n"
        "@try @git config filter.evil.smudge '{plant} smudge'\n"
        "@try @git config filter.evil.required true",
        _tampered_unless_sandboxed(), files=["attack.txt", ".gitattributes"], review=True,
    ),
    "diff-driver": Attack(
        "@write .gitattributes * diff=evil\n@write attack.txt a\n"
        "@try @git config diff.evil.textconv '{plant} textconv'\n"
        "@try @git config diff.evil.command '{plant} diffcmd'\n"
        "@try @git config diff.external '{plant} external'",
        _tampered_unless_sandboxed(), files=["attack.txt", ".gitattributes"], review=True,
    ),
    "pager": Attack(
        "@write attack.txt a\n@try @git config core.pager '{plant} pager'\n"
        "@try @git config pager.log '{plant} pager-log'", _tampered_unless_sandboxed(),
    ),
    "unused-alias": Attack(
        "@write attack.txt a\n@try @git config alias.status '!{plant} alias'",
        _tampered_unless_sandboxed(),
    ),
    "info-attributes": Attack(
        "@write attack.txt a\n@try @common-write info/attributes * filter=evil merge=evil\\n\n"
        "@try @git config merge.evil.driver '{plant} merge'", _tampered_unless_sandboxed(),
    ),
    "gitfile-to-main-repository": Attack(
        "@write attack.txt a\n@write-abs {worktree}/.git gitdir: {repo}/.git\n"
        "@try @git add -A\n@try @git commit -m hijack",
        {"worktree": "any", "clone": "failed", "sandbox": "failed"}, _gitfile,
    ),
    "symlink-into-checkout-and-git": Attack(
        "@write attack.txt a\n@symlink {repo}/README.md readme-link\n"
        "@symlink ../../.git/config config-link",
        {"worktree": "failed", "clone": "failed", "sandbox": "failed"}, _symlink_not_merged,
    ),
    "write-user-checkout": Attack(
        "@write attack.txt a\n@try @write-abs {repo}/README.md pwned",
        {"worktree": "merged", "clone": "merged", "sandbox": "merged"}, _unchanged_user_checkout,
    ),
    "write-another-worktree": Attack(
        "@write attack.txt a\n@wait {repo}/worktrees/victim/started.txt 60\n"
        "@try @write-abs {repo}/worktrees/victim/injected.txt injected\n@write done.txt done",
        {"worktree": "merged", "clone": "merged", "sandbox": "merged"}, _injection,
        concurrent=True, slow=True, files=["attack.txt", "done.txt"],
    ),
    "fill-the-disk": Attack(
        "@write attack.txt a\n@spew 3000000\n@fill big.bin 20000000\n"
        "@try @common-write hooks/junk x\n@try @write-abs {outside}/big.bin y",
        _tampered_unless_sandboxed(), _disk, slow=True, extra_config="log_limit = 1000000\n",
        files=["attack.txt", "big.bin"],
    ),
}


def _events(lab: Lab) -> list[str]:
    db = lab.root / ".git" / "coordinator" / "state.db"
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT data FROM events ORDER BY id").fetchall()
    return [str(row[0]) for row in rows]


def _shared_files(root: Path) -> dict[str, bytes]:
    git_dir = root / ".git"
    files = {p: git_dir / p for p in ("config", "info/attributes", "info/exclude")}
    hooks = git_dir / "hooks"
    if hooks.is_dir():
        files.update({f"hooks/{h.name}": h for h in hooks.iterdir()})
    return {name: path.read_bytes() for name, path in files.items() if path.exists()}


@pytest.fixture
def lab(e2e: E2EProject, tmp_path: Path) -> Lab:
    proof, outside = tmp_path / "proof", tmp_path / "outside"
    proof.mkdir()
    outside.mkdir()
    (outside / "hooks").mkdir()
    plant = tmp_path / "plant.sh"
    plant.write_text(
        "#!/bin/sh\n# Leaves proof only when run outside every agent's process tree.\n"
        f'[ -n "$COORDINATOR_TASK_ID" ] || touch {shlex.quote(str(proof))}/"pwned-$1"\ncat\n'
    )
    plant.chmod(0o755)
    for hook in ("post-checkout", "post-merge"):
        (outside / "hooks" / hook).write_text(f"#!/bin/sh\nexec {plant} via-hooks-path\n")
        (outside / "hooks" / hook).chmod(0o755)
    user_hook = e2e.root / ".git" / "hooks" / "pre-commit"
    user_hook.parent.mkdir(exist_ok=True)
    user_hook.write_text("#!/bin/sh\nexit 0\n")  # the user's own: must stay as it is
    user_hook.chmod(0o755)
    with (e2e.root / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write("# coordinator worktrees\n/worktrees/\n")  # as the run would add it
    return Lab(e2e, proof, plant, outside)


def _cases() -> list[Any]:
    cases = []
    for name, attack in ATTACKS.items():
        for mode in MODES:
            marks = [pytest.mark.slow] if attack.slow else []
            cases.append(pytest.param(name, mode, id=f"{name}-{mode}", marks=marks))
    return cases


@pytest.mark.parametrize(("name", "mode"), _cases())
def test_attack(lab: Lab, name: str, mode: str) -> None:
    if mode == "sandbox" and shutil.which("bwrap") is None:
        pytest.skip(SANDBOX_SKIP)
    attack = ATTACKS[name]
    root = lab.root
    worktree = root / "worktrees" / "attacker"
    body = attack.body.format(repo=root, plant=lab.plant, proof=lab.proof, outside=lab.outside,
                              worktree=worktree)  # fmt: skip
    instances = 2 if attack.concurrent else 1
    lab.project.config(f'isolation = "{mode}"\n{attack.extra_config}instances = {instances}\n'
                       + _agent())  # fmt: skip
    victim = "@write victim.txt v"
    if attack.concurrent:  # each signals the other in its own directory: readable in any mode
        victim += f"\n@write started.txt s\n@wait {root}/worktrees/attacker/done.txt 60"
    lab.project.spec("victim", victim, files=["victim.txt", "started.txt"], extra="priority: 10")
    deps = () if attack.concurrent else ("victim",)
    lab.project.spec("attacker", body, files=attack.files, deps=deps)
    lab.project.spec("bystander", "@write bystander.txt b", files=["bystander.txt"],
                     deps=deps, extra="priority: -10")  # after the attacker, when it can be
    lab.project.git("add", "-A")
    lab.project.git("commit", "-q", "-m", "specs")
    lab.project.git("branch", "feature")
    lab.project.git("tag", "v1")
    before = _shared_files(root)
    started_head = lab.started = lab.git("rev-parse", "HEAD")

    started = time.perf_counter()
    result = lab.project.cli("run", timeout=300)
    out = result.stdout + result.stderr + f"\n(run took {time.perf_counter() - started:.1f} s)"
    with Store.open_readonly(store_path(root / ".git")) as store:  # what status --json says
        tasks = {t["id"]: t for t in store.status()["tasks"]}  # type: ignore[attr-defined]

    # Nothing planted ran in the coordinator, nor does what it runs afterwards (review diffs).
    if attack.review:
        lab.project.cli("review", "--patch")
    assert sorted(p.name for p in lab.proof.iterdir()) == [], out
    # Config, hooks and attribute files end as they began.
    assert _shared_files(root) == before, out
    # The target: task merges only, on the first-parent chain down to where the run started.
    chain = lab.git("rev-list", "--first-parent", f"{started_head}..coordinator/integration")
    for commit in chain.split():
        assert "Coordinator-Task:" in lab.git("log", "-1", "--format=%B", commit), out
    merged = {t for t, task in tasks.items() if task["state"] == "merged"}
    assert {"victim", "bystander"} <= merged, out
    victim_merge = next(
        c for c in chain.split() if "Coordinator-Task: victim" in lab.git("log", "-1",
                                                                          "--format=%B", c)
    )  # fmt: skip
    assert lab.git("rev-parse", "coordinator/task/victim") == lab.git(
        "rev-parse", f"{victim_merge}^2"), out  # fmt: skip
    # The attacker ends as this mode says; a tampering attacker never merges.
    expected = attack.expect[mode]
    state, reason = tasks["attacker"]["state"], tasks["attacker"]["reason"]
    if expected == "tampered":
        assert (state, reason) == ("failed", "tampered"), out
    elif expected != "any":
        assert state == expected, out
    if state == "merged":  # what it merged holds none of the attack's git state
        landed = lab.git("ls-tree", "-r", "--name-only", "coordinator/integration").split()
        assert not [p for p in landed if p.startswith(".git/") or "/.git/" in p], landed
    if mode == "sandbox":
        assert not (lab.outside / "big.bin").exists()
        assert not (lab.outside / "hooks" / "junk").exists()
    if attack.check is not None:
        attack.check(lab, mode, tasks)
    assert tasks["attacker"]["isolation"] == mode
    assert os.path.isdir(root / ".git")


def test_sandbox_outside_writes_fail(lab: Lab) -> None:
    """In sandbox mode the agent cannot write the repository, the user's checkout, another
    task's directory, the markers beside its own or /tmp outside its private one."""
    if shutil.which("bwrap") is None:
        pytest.skip(SANDBOX_SKIP)
    root = lab.root
    targets = [root / "README.md", root / ".git" / "config", root / ".git" / "HEAD",
               root / ".git" / "coordinator" / "forged", lab.outside / "x",
               Path("/tmp") / f"coordinator-sandbox-{os.getpid()}"]  # fmt: skip
    body = "\n".join(f"@try @write-abs {t} pwned" for t in targets) + "\n@write own.txt ok"
    lab.project.config(f'isolation = "sandbox"\n{_agent()}')
    lab.project.spec("boxed", body, files=["own.txt"])
    result = lab.project.cli("run", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for target in targets:
        assert not target.exists() or "pwned" not in target.read_text(errors="replace"), target
    assert "own.txt" in lab.git("ls-tree", "-r", "--name-only", "coordinator/integration")


def test_plan_and_status_show_isolation(lab: Lab) -> None:
    lab.project.config('isolation = "clone"\n' + _agent() + 'isolation = "worktree"\n\n'
                       + _agent("other"))  # fmt: skip
    lab.project.spec("a", "@write a.txt a", files=["a.txt"])
    lab.project.spec("b", "@write b.txt b", files=["b.txt"], agent="other")
    plan = lab.project.cli("plan", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    modes = {t["id"]: t["isolation"] for t in json.loads(plan.stdout)["tasks"]}
    assert modes == {"a": "worktree", "b": "clone"}
    assert "isolation" in lab.project.cli("plan").stdout
    assert lab.project.cli("run").returncode == 0
    assert {t: v["isolation"] for t, v in lab.project.tasks().items()} == modes


def test_missing_bwrap_is_one_clear_line(lab: Lab, tmp_path: Path) -> None:
    lab.project.config(f'isolation = "sandbox"\n{_agent()}')
    lab.project.spec("a", "@write a.txt a", files=["a.txt"])
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("git",):
        found = shutil.which(tool)
        assert found is not None
        (bare / tool).symlink_to(found)
    before = lab.git("for-each-ref")
    result = lab.project.cli("run", env={"PATH": str(bare)})
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "bubblewrap" in lines[0] and "bwrap" in lines[0], lines
    assert lab.git("for-each-ref") == before  # nothing changed


def _agent(name: str = "fake") -> str:
    return (f'grace = "1s"\n\n[agents.{name}]\ncommand = ["{{python}}", "{SCRIPTED}", '
            '"{prompt_file}"]\ntimeout = "120s"\n')  # fmt: skip
