"""Bad specs, workflow files, config and arguments through the real CLI: refused, nothing changed.

This extends ``test_cli_input.py`` (whose cases are not repeated here) with the contract every
refusal must keep, checked strictly:

* exit code 2, no traceback, nothing on stdout, and every stderr line starts with ``error: ``;
* one of those lines names the file, the field and a fix (``file: field: message (fix)``);
* the repository is byte-identical afterwards: refs, ``HEAD``, the index, every file of the
  working tree (worktrees of earlier runs included), ``.git/config`` and ``.git/info/exclude``;
* the state store ``.git/coordinator/state.db`` (and its ``-wal`` and ``-shm``) is absent or
  byte-identical, and nothing else appears under ``.git/coordinator`` but the released lock.

Each case goes through ``validate``, ``plan`` and ``run`` (fewer where a command has no such
option), first in a fresh repository, and for a sample of cases again after a successful run
created the store and the target branch, where "byte-identical store" has teeth.

The three commands of one case run in one interpreter through ``coordinator.cli.main``, the
function the console script calls, so the import cost is paid once per case rather than once
per command; ``test_console_script_refuses_the_same`` checks the real console entry point too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_util import FAKE_CONFIG, E2EProject

GOOD_SPEC = "---\nid: a\nagent: fake\nfiles: [src/a.txt]\n---\n@write src/a.txt from a\n"
ALL = (("validate",), ("plan",), ("run",))
RUN = (("run",),)

# One interpreter, several commands: each through ``coordinator.cli.main`` (what the console
# script ``coordinator`` calls), with its own captured stdout and stderr.
_DRIVER = """
import contextlib, io, json, sys
from coordinator.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    results.append([code, out.getvalue(), err.getvalue()])
sys.__stdout__.write(json.dumps(results))
"""


# --- what "nothing changed" means ----------------------------------------------------------------


def _files_under(top: Path, *, skip_git: bool) -> dict[str, bytes]:
    """Every file under ``top`` with its bytes; a symlink as its target text (never followed)."""
    found: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        if skip_git and here == top:
            dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in [*filenames, *(d for d in dirnames if (here / d).is_symlink())]:
            path = here / name
            rel = path.relative_to(top).as_posix()
            found[rel] = (
                b"->" + os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            )
    return found


def snapshot(root: Path) -> dict[str, Any]:
    """Everything bad input must leave alone, as bytes."""
    git_dir = root / ".git"

    def git(*args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, check=True).stdout

    def read(path: Path) -> bytes | None:
        return path.read_bytes() if path.exists() else None

    state = git_dir / "coordinator"
    return {
        "refs": git("for-each-ref", "--format=%(refname) %(objectname) %(symref)"),
        "HEAD": read(git_dir / "HEAD"),
        "packed-refs": read(git_dir / "packed-refs"),
        "index": read(git_dir / "index"),
        "config": read(git_dir / "config"),
        "exclude": read(git_dir / "info" / "exclude"),
        "worktrees": git("worktree", "list", "--porcelain"),
        "working tree": _files_under(root, skip_git=True),
        "store": {s: read(state / f"state.db{s}") for s in ("", "-wal", "-shm")},
        # The lock file may be created (and left empty, released) by a run refused under it.
        "state dir": sorted(p for p in _files_under(state, skip_git=False) if p != "lock")
        if state.exists()
        else [],
    }


def assert_unchanged(before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    """Compare key by key, so a failure says what changed rather than dumping every byte."""
    for key in before:
        assert after[key] == before[key], f"{key} changed"


# --- running the CLI ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


def run_commands(root: Path, commands: Sequence[Sequence[str]]) -> list[Outcome]:
    """Run each command line in ``root``'s repository in one interpreter, as the CLI would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, json.dumps([list(c) for c in commands])],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [Outcome(code, out, err) for code, out, err in json.loads(proc.stdout)]


def assert_refused(outcome: Outcome, must: Sequence[str], what: object = "") -> None:
    """Exit 2, only ``error: `` lines, and one line holding every string of ``must`` and a fix."""
    shown = (what, outcome.code, outcome.stdout, outcome.stderr)
    assert outcome.code == 2, shown
    assert "Traceback" not in outcome.stderr + outcome.stdout, shown
    assert outcome.stdout == "", shown
    lines = outcome.stderr.splitlines()
    assert lines, shown
    assert all(line.startswith("error: ") for line in lines), shown
    matching = [line for line in lines if all(m in line for m in must)]
    assert matching, (must, lines)
    assert any(line.endswith(")") and " (" in line for line in matching), ("no fix", matching)


def check_case(root: Path, case: Case) -> list[Outcome]:
    """Write the case's files, then every command must refuse and change nothing."""
    for rel in case.remove:
        (root / rel).unlink()
    for rel, content in case.files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    if case.symlink:
        link, target = case.symlink
        (root / link).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target.replace("{root}", str(root)), root / link)
    before = snapshot(root)
    commands = [list(c) for c in case.commands]
    outcomes = run_commands(root, commands)
    for command, outcome in zip(commands, outcomes, strict=True):
        assert_refused(outcome, case.must, command)
    assert_unchanged(before, snapshot(root))
    return outcomes


# --- the cases ------------------------------------------------------------------------------------


def cfg(top: str = "", tail: str = "", agent: str = "") -> str:
    """The fake agent's config with extra top-level keys, agent keys or trailing tables."""
    text = FAKE_CONFIG.replace('timeout = "60s"\n', f'timeout = "60s"\n{agent}')
    return f"{top}\n{text}\n{tail}"


def md(front: str, body: str = "do it\n") -> str:
    return f"---\n{front}\n---\n{body}"


@dataclass(frozen=True)
class Case:
    """Files to write (and remove), the strings one error line must hold, the commands."""

    files: Mapping[str, str | bytes]
    must: tuple[str, ...]
    commands: tuple[tuple[str, ...], ...] = ALL
    remove: tuple[str, ...] = ()
    symlink: tuple[str, str] | None = None  # (link, target); "{root}" is the repository
    marks: tuple[Any, ...] = ()


A = "specs/a.md"
W = "specs/w.yaml"
T = "coordinator.toml"

SPEC_CASES: dict[str, Case] = {
    "front-matter-never-closed": Case(
        {A: "---\nagent: fake\ndo it\n"}, (A, "never closed", "'---'")
    ),
    "front-matter-is-a-list": Case({A: md("- agent\n- fake")}, (A, "front matter", "key: value")),
    "duplicate-key": Case({A: md("agent: fake\nagent: fake")}, (A, "duplicate key", "line 3")),
    "empty-body": Case({A: md("agent: fake", "\n\n")}, (A, "body", "instructions")),
    "nul-in-body": Case(
        {A: md("agent: fake", "do \x00 it\n").encode()}, (A, "body", "NUL", "line 4")
    ),
    "id-too-long": Case({A: md("id: " + "a" * 65 + "\nagent: fake")}, (A, "id", "at most 64")),
    "file-name-is-no-id": Case(
        {"specs/Big Task!.md": md("agent: fake")}, ("specs/Big Task!.md", "id", "big-task")
    ),
    "priority-text": Case({A: md("agent: fake\npriority: high")}, (A, "priority", "whole number")),
    "priority-huge": Case(
        {A: md("agent: fake\npriority: " + "9" * 30)}, (A, "priority", "too large")
    ),
    "timeout-zero": Case({A: md("agent: fake\ntimeout: 0")}, (A, "timeout", "zero", "90s")),
    "timeout-beyond-a-year": Case(
        {A: md("agent: fake\ntimeout: 1.0e300")}, (A, "timeout", "a year")
    ),
    "estimate-negative": Case({A: md("agent: fake\nestimate: -5s")}, (A, "estimate", "90s")),
    "footprint-mode": Case({A: md("agent: fake\nfootprint: maybe")}, (A, "footprint", "declared")),
    "depends-on-mapping": Case(
        {A: md("agent: fake\ndepends_on: {b: c}")}, (A, "depends_on", "list")
    ),
    "glob-double-star-in-segment": Case(
        {A: md("agent: fake\nfiles: ['src/**.py']")}, (A, "files", "whole path segment")
    ),
    "files-backslash": Case(
        {A: md("agent: fake\nfiles: ['src\\\\a.py']")}, (A, "files", "backslash", "'/'")
    ),
    "files-home": Case({A: md("agent: fake\nfiles: ['~/x']")}, (A, "files", "'~'", "relative")),
    "agent-empty": Case({A: md("agent: ''")}, (A, "agent", "[agents]")),
    "agent-boolean": Case({A: md("agent: true")}, (A, "agent", "not text", "quotes")),
    "title-list": Case({A: md("agent: fake\ntitle: [a, b]")}, (A, "title", "quotes")),
    "instructions-in-front-matter": Case(
        {A: md("agent: fake\ntask: do it")}, (A, "task", "below the front matter")
    ),
    "dependency-bad-id": Case(
        {A: md("agent: fake\ndepends_on: [../x]")}, (A, "depends_on", "invalid id")
    ),
}

WORKFLOW_CASES: dict[str, Case] = {
    "workflow-top-level-list": Case({W: "- id: a\n  agent: fake\n"}, (W, "mapping", "tasks:")),
    "workflow-tasks-mapping": Case({W: "tasks: {a: 1}\n"}, (W, "tasks", "not a list", "tasks:")),
    "workflow-tasks-misspelt": Case({W: "task:\n  - id: a\n"}, (W, "tasks", "rename 'task'")),
    "workflow-entry-text": Case({W: "tasks:\n  - just text\n"}, (W, "tasks[0]", "not a mapping")),
    "workflow-no-id": Case(
        {W: "tasks:\n  - agent: fake\n    task: x\n"}, (W, "tasks[0]", "neither id nor name")
    ),
    "workflow-task-and-prompt": Case(
        {W: "tasks:\n  - {id: a, agent: fake, task: x, prompt: y}\n"},
        (W, "tasks[0].prompt", "not both"),
    ),
    "workflow-misspelt-key": Case(
        {W: "tasks:\n  - {id: a, agent: fake, taks: x}\n"}, (W, "tasks[0].taks", "'task'")
    ),
    "workflow-name-no-id": Case(
        {W: "tasks:\n  - {name: 'Build Parser!', agent: fake, task: x}\n"},
        (W, "tasks[0].name", "build-parser"),
    ),
    "workflow-blank-task": Case(
        {W: "tasks:\n  - {id: a, agent: fake, task: '   '}\n"}, (W, "tasks[0].task", "instructions")
    ),
    "workflow-nul-in-task": Case(
        {W: 'tasks:\n  - {id: a, agent: fake, task: "x\\0y"}\n'}, (W, "tasks[0].task", "NUL")
    ),
    "workflow-duplicate-ids": Case(
        {W: "tasks:\n  - {id: a, agent: fake, task: x}\n  - {id: a, agent: fake, task: y}\n"},
        (W, "tasks[id=a].id", "duplicate", "own id"),
    ),
    "workflow-unknown-agent": Case(
        {W: "tasks:\n  - {id: a, agent: fak, task: x}\n"}, (W, "tasks[id=a].agent", "'fake'")
    ),
    "workflow-yaml-syntax": Case({W: "tasks: [\n"}, (W, "invalid YAML", "line")),
}

CONFIG_CASES: dict[str, Case] = {
    "agent-key-misspelt": Case(
        {T: cfg(agent="comand = []\n")}, (T, "agents.fake.comand", "'command'")
    ),
    "placeholder-typo": Case(
        {T: cfg().replace("{prompt_file}", "{promt_file}")},
        (T, "agents.fake.command", "{promt_file}", "argv list"),
    ),
    "unmatched-brace": Case(
        {T: cfg().replace("{prompt_file}", "{prompt_file")}, (T, "agents.fake.command", "'{{'")
    ),
    "command-empty": Case(
        {T: cfg(tail="[agents.other]\ncommand = []\n")}, (T, "agents.other.command", "argv list")
    ),
    "command-empty-program": Case(
        {T: cfg(tail='[agents.other]\ncommand = ["", "x"]\n')},
        (T, "agents.other.command", "program", "argv list"),
    ),
    "agent-timeout-zero": Case(
        {T: cfg().replace('timeout = "60s"', 'timeout = "0s"')},
        (T, "agents.fake.timeout", "zero", "90s"),
    ),
    "grace-not-a-duration": Case(
        {T: cfg().replace('grace = "1s"', 'grace = "soon"')}, (T, "grace", "90s")
    ),
    "env-name-with-equals": Case(
        {T: cfg(agent='env = { "A=B" = "x" }\n')}, (T, "agents.fake.env", "'='", "env =")
    ),
    "env-coordinator-variable": Case(
        {T: cfg(agent='env = { COORDINATOR_TASK_ID = "x" }\n')},
        (T, "agents.fake.env", "set by the coordinator"),
    ),
    "env-value-number": Case(
        {T: cfg(agent="env = { A = 1 }\n")}, (T, "agents.fake.env.A", "string", "env =")
    ),
    "verify-string": Case(
        {T: cfg(tail='[merge]\nverify = "pytest -q"\n')}, (T, "merge.verify", "argv list")
    ),
    "verify-empty": Case({T: cfg(tail="[merge]\nverify = []\n")}, (T, "merge.verify", "argv list")),
    "log-limit-tiny": Case({T: cfg(top="log_limit = 10")}, (T, "log_limit", "1024")),
    "identity-key-misspelt": Case(
        {T: cfg(tail='[identity]\nmail = "a@b"\n')}, (T, "identity.mail", "'email'")
    ),
    "identity-nul": Case(
        {T: cfg(tail='[identity]\nname = "a\\u0000b"\n')}, (T, "identity.name", "NUL", "[identity]")
    ),
    "unknown-footprint-value": Case(
        {T: cfg(top='unknown_footprint = "all"')}, (T, "unknown_footprint", "exclusive")
    ),
    "target-head": Case({T: cfg(top='target = "HEAD"')}, (T, "target", "reserved", "branch name")),
    "target-task-branch": Case(
        {T: cfg(top='target = "coordinator/task/x"')}, (T, "target", "task branches", "branch name")
    ),
    "target-dot-component": Case(
        {T: cfg(top='target = "work/.hidden"')}, (T, "target", "'.'", "branch name")
    ),
    "specs-absolute": Case(
        {T: cfg(top='specs = "/etc"')}, (T, "specs", "absolute", "inside the repository")
    ),
    "specs-in-git-dir": Case(
        {T: cfg(top='specs = ".git/specs"')}, (T, "specs", ".git", "inside the repository")
    ),
    "specs-missing": Case(
        {T: cfg(top='specs = "nope"')}, (T, "specs", "'nope' does not exist", "coordinator init")
    ),
    "specs-is-a-file": Case(
        {T: cfg(top='specs = "README.md"')},
        (T, "specs", "'README.md' is not a directory", "coordinator init"),
    ),
    "worktrees-in-git-dir": Case(
        {T: cfg(top='worktrees = ".git/wt"')}, (T, "worktrees", ".git", "inside the repository")
    ),
    "worktrees-root": Case(
        {T: cfg(top='worktrees = "."')}, (T, "worktrees", "root", "worktrees =")
    ),
    "worktrees-holds-tracked-files": Case(
        {T: cfg(top='worktrees = "src"')},
        (T, "worktrees", "tracked files such as 'src/", "worktrees ="),
    ),
    "worktrees-is-a-file": Case(
        {"worktrees": "not a directory\n"}, (T, "worktrees", "not a directory", "worktrees =")
    ),
    "worktrees-holds-specs": Case(
        {T: cfg(top='worktrees = "specs"')}, (T, "worktrees", "specs directory", "worktrees =")
    ),
    "config-not-utf8": Case({T: b"instances = 3 # \xff\n"}, (T, "UTF-8")),
    "pyproject-section": Case(
        {"pyproject.toml": "[tool.coordinator]\ninstance = 2\n"},
        ("pyproject.toml [tool.coordinator]", "instance", "'instances'"),
        remove=(T,),
    ),
    "prompt-argument-too-long": Case(
        {
            T: cfg().replace("{prompt_file}", "{prompt}"),
            A: md("agent: fake\nfiles: [src/a.txt]", "x" * 140_000 + "\n"),
        },
        (A, "body", "140001 bytes", "{prompt_file}"),
    ),
}

ARGUMENT_CASES: dict[str, Case] = {
    "target-argument-head": Case(
        {}, ("--target", "reserved", "branch name"), (("run", "--target", "HEAD"),)
    ),
    "target-argument-dotdot": Case(
        {}, ("--target", "'..'", "branch name"), (("run", "--target", "a..b"),)
    ),
    "target-argument-empty": Case(
        {}, ("--target", "empty", "branch name"), (("run", "--target", ""),)
    ),
    "target-argument-lock": Case(
        {}, ("--target", ".lock", "branch name"), (("run", "--target", "x.lock/y"),)
    ),
    "target-argument-option": Case(
        {}, ("--target", "'-rf'", "branch name"), (("run", "--target=-rf"),)
    ),
    "target-argument-task-branch": Case(
        {}, ("--target", "task branches"), (("run", "--target", "coordinator/task/a"),)
    ),
    "target-checked-out": Case(
        {}, ("target", "checked out", "switch"), (("run", "--target", "main"),)
    ),
    "base-not-a-commit": Case(
        {},
        ("--base", "not a commit", "commit"),
        (("plan", "--base", "nosuch"), ("run", "--base", "nosuch")),
    ),
    "base-option-like": Case(
        {}, ("--base", "'--all'", "commit"), (("plan", "--base=--all"), ("run", "--base=--all"))
    ),
    "only-unknown-hostile": Case({}, ("--only", "'../x'", "plan"), (("run", "--only", "../x"),)),
}

_MISSING_DIR = "/nonexistent-coordinator-dir"
ARGUMENT_CASES |= {
    "instances-not-a-number": Case(
        {},
        ("--instances", "integer"),
        (("run", "--instances", "abc"), ("plan", "-n", "abc")),
    ),
    "unknown-option": Case({}, ("--frobnicate",), (("run", "--frobnicate"),)),
    "repo-directory-missing": Case(
        {}, (_MISSING_DIR, "directory"), (("validate", "-C", _MISSING_DIR),)
    ),
}

CASES: dict[str, Case] = SPEC_CASES | WORKFLOW_CASES | CONFIG_CASES | ARGUMENT_CASES

# The cases run again after a successful run made the store, the target branch and a worktree.
AFTER_A_RUN = (
    "nul-in-body",
    "timeout-beyond-a-year",
    "workflow-nul-in-task",
    "workflow-duplicate-ids",
    "env-name-with-equals",
    "target-head",
    "worktrees-holds-tracked-files",
    "worktrees-holds-specs",
    "prompt-argument-too-long",
    "target-argument-lock",
    "base-option-like",
    "target-checked-out",
)


def _params(names: Sequence[str]) -> list[Any]:
    return [pytest.param(name, id=name, marks=CASES[name].marks) for name in names]


@pytest.mark.parametrize("name", _params(sorted(CASES)))
def test_refused_in_a_fresh_repository(e2e: E2EProject, name: str) -> None:
    """No store yet: it must still not exist afterwards (``snapshot`` compares it as None)."""
    e2e.write(A, GOOD_SPEC)
    check_case(e2e.root, CASES[name])
    assert not (e2e.root / ".git" / "coordinator" / "state.db").exists()


@pytest.fixture
def after_a_run(e2e: E2EProject) -> E2EProject:
    """A repository where one good run created the store, the target branch and a worktree."""
    e2e.write(A, GOOD_SPEC)
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (e2e.root / ".git" / "coordinator" / "state.db").exists()
    assert e2e.git("rev-parse", "--verify", "coordinator/integration")
    return e2e


@pytest.mark.parametrize("name", _params(AFTER_A_RUN))
def test_refused_after_a_good_run(after_a_run: E2EProject, name: str) -> None:
    """The store and the target exist: ``run`` must neither write the store nor move a ref."""
    store = after_a_run.root / ".git" / "coordinator" / "state.db"
    before = store.read_bytes()
    check_case(after_a_run.root, CASES[name])
    assert store.read_bytes() == before


def test_broken_spec_after_a_good_run_keeps_store_and_wal(after_a_run: E2EProject) -> None:
    """A store left with a live ``-wal`` (as by a run that was killed) is not touched either.

    The WAL is made by keeping a write in it: a connection with checkpoints turned off writes a
    row and is abandoned without closing (a close would checkpoint and delete the WAL).
    """
    store = after_a_run.root / ".git" / "coordinator" / "state.db"
    script = (
        "import sqlite3, sys, os\n"
        "con = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "con.execute('PRAGMA wal_autocheckpoint = 0')\n"
        "con.execute('CREATE TABLE IF NOT EXISTS probe (x)')\n"
        "con.execute('INSERT INTO probe VALUES (1)')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(store)], check=True)
    wal = store.with_name("state.db-wal")
    assert wal.exists() and wal.stat().st_size > 0
    check_case(
        after_a_run.root,
        Case(
            {"specs/b.md": md("agent: fake\ndepends_on: [a, ghost]")},
            ("specs/b.md", "depends_on", "ghost"),
        ),
    )


@pytest.mark.parametrize("command", ["plan", "plan --all", "validate", "run"])
def test_dependency_cycle_after_a_good_run_leaves_the_store_unread(
    after_a_run: E2EProject, command: str
) -> None:
    """A cycle is found only when the tasks are ordered, later than the per-spec checks; the
    past attempts that learned estimates read from the store must wait for it all the same (a
    SQLite reader would make ``-wal`` and ``-shm`` files beside the store)."""
    store = after_a_run.root / ".git" / "coordinator" / "state.db"
    assert not store.with_name("state.db-wal").exists()
    check_case(
        after_a_run.root,
        Case(
            {
                A: md("id: a\nagent: fake\ndepends_on: [b]"),
                "specs/b.md": md("agent: fake\ndepends_on: [a]"),
            },
            ("depends_on", "cycle"),
            (tuple(command.split()),),
        ),
    )
    assert not store.with_name("state.db-wal").exists()
    assert not store.with_name("state.db-shm").exists()


def test_console_script_refuses_the_same(e2e: E2EProject) -> None:
    """The driver above calls ``cli.main``; the real ``python -m coordinator.cli`` agrees."""
    e2e.write(A, md("agent: fake\ntimeout: 0"))
    before = snapshot(e2e.root)
    for command in ALL:
        result = e2e.cli(*command)
        outcome = Outcome(result.returncode, result.stdout, result.stderr)
        assert_refused(outcome, (A, "timeout", "zero"), command)
    assert_unchanged(before, snapshot(e2e.root))


def test_every_problem_of_a_project_is_listed_at_once(e2e: E2EProject) -> None:
    """``validate`` lists the problems of every file in one pass, one line each."""
    e2e.write(A, md("agent: fake\npriority: high\ntimeout: soon"))
    e2e.write("specs/b.md", md("agent: fake\nfiles: [/etc/passwd]"))
    e2e.write(W, "tasks:\n  - {id: c, agent: fake, taks: x}\n")
    (outcome,) = run_commands(e2e.root, [["validate"]])
    assert_refused(outcome, (A, "priority"))
    for must in ((A, "timeout"), ("specs/b.md", "files"), (W, "tasks[0].taks")):
        assert any(all(m in line for m in must) for line in outcome.stderr.splitlines()), must


def test_case_count() -> None:
    """The issue asks for at least 30 bad inputs; this keeps the suite from shrinking below."""
    assert len(CASES) >= 30
