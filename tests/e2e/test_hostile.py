"""Hostile values through the real CLI: ids, paths, symlinks and text that try to escape.

Ids become branch names, directory names and git arguments; paths are joined to the repository
root; spec text becomes an agent's argument. So each hostile value must either be refused
before anything changes (exit 2, ``error:`` lines, repository and store byte-identical, see
``test_bad_input``) or, where it is legitimate text, reach the agent as exactly that text with
no shell in between: no file named ``pwned*`` may ever appear. Worktrees of a real run must all
sit directly under the worktrees directory.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from e2e_util import FAKE_CONFIG, E2EProject
from test_bad_input import GOOD_SPEC, Case, check_case, md

# Ids that must never become a task: each would be an option, a path escape, a ref git refuses
# or reserves, or a name that reads differently than it looks.
HOSTILE_IDS = {
    "dotdot-slash": "../x",
    "option": "-rf",
    "double-dot": "a..b",
    "lock-suffix": "x.lock",
    "HEAD": "HEAD",
    "head": "head",
    "non-ascii": "tâche",
    "slash": "a/b",
    "hidden": ".hidden",
    "trailing-dot": "x.",
    "space": "a b",
    "zero-width-space": "a\u200bb",
    "fullwidth": "\uff46\uff55\uff4c\uff4c",  # "full" in fullwidth letters
    "command-substitution": "$(touch pwned)",
    "semicolon": "a;touch pwned",
    "backticks": "`touch pwned`",
    "too-long": "a" * 65,
    "empty": "",
}

HOSTILE_PATHS = {
    "etc-passwd": "/etc/passwd",
    "dotdot": "../../x",
    "git-config": ".git/config",
    "git-upper": ".GIT/config",
    "dotdot-inside": "src/../../x",
    "home": "~root/x",
    "drive": "C:/x",
    "unc": "\\\\server\\share",
    "nul": "src/a\x00b",
}

# Spec text that a shell would act on; the agent must get it as one literal argument.
SHELL_TEXT = """Do $(touch {pwn}/pwned-subst) and `touch {pwn}/pwned-tick`; touch {pwn}/pwned-semi
&& touch pwned-and || touch pwned-or | tee pwned-pipe > pwned-redirect < /dev/null & disown
Placeholders stay literal: {{marker}} {{task_id}} {{prompt}} {{{{ }}}} {{ }} {{python}} {{spec}}
Quotes and escapes: ' " \\ \\n \\0 $HOME ${{HOME}} %PATH% !! * ? [a] ~ #
Non-ASCII: 日本語 — é 🚀 zero\u200bwidth
  indented, trailing spaces   \t and a tab
-rf --help -- --end-of-options
"""

DUMP_AGENT = """\
import json, os, sys
from pathlib import Path
task = sys.argv[2]
record = {"argv": sys.argv[1:], "cwd": os.getcwd(), "hostile": os.environ.get("HOSTILE")}
Path(os.environ["DUMP_DIR"], task + ".json").write_text(json.dumps(record), encoding="utf-8")
out = Path("out", task)
out.mkdir(parents=True, exist_ok=True)
(out / "done.txt").write_text("done\\n", encoding="utf-8")
"""


WRITER = """\
import json, pathlib, sys
for name in json.loads(sys.argv[1]):
    path = pathlib.Path("odd", name)
    path.parent.mkdir(exist_ok=True)
    path.write_text("x\\n", encoding="utf-8")
"""


def _pwned(top: Path) -> list[Path]:
    """Files a shell would have made from the hostile text (they all start with ``pwned``)."""
    return sorted(p for p in top.rglob("pwned*"))


def _toml(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def _yaml(text: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are YAML's)."""
    return json.dumps(text)


# --- ids -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", list(HOSTILE_IDS.values()), ids=list(HOSTILE_IDS))
def test_hostile_id_refused_everywhere(e2e: E2EProject, tmp_path: Path, value: str) -> None:
    """The id as ``id:``, as a file name, as a workflow ``id``/``name`` and as a dependency:
    every place is reported on its own line, and nothing is created."""
    files: dict[str, str] = {
        "specs/front.md": md(f"id: {_yaml(value)}\nagent: fake"),
        "specs/dep.md": md(f"agent: fake\ndepends_on: [{_yaml(value)}]"),
        "specs/w.yaml": (
            f"tasks:\n  - {{id: {_yaml(value)}, agent: fake, task: x}}\n"
            f"  - {{name: {_yaml(value)}, agent: fake, task: y}}\n"
        ),
    }
    must_lines = [
        ("specs/front.md", "id", "invalid id"),
        ("specs/dep.md", "depends_on", "invalid id"),
        ("specs/w.yaml", "tasks[0].id", "invalid id"),
        ("specs/w.yaml", "tasks[1].name", "invalid id"),
    ]
    as_file = f"specs/{value}.md"
    if value and "/" not in value and not value.startswith(".") and "\0" not in value:
        files[as_file] = md("agent: fake")
        must_lines.append((as_file, "id", "file name"))
    validate, _, _ = check_case(e2e.root, Case(files, ("specs/front.md", "id", "invalid id")))
    lines = validate.stderr.splitlines()
    for must in must_lines:
        assert any(all(m in line for m in must) for line in lines), (must, lines)
    assert not _pwned(tmp_path)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--only", "$(touch pwned)"),
        ("--only", "a;touch pwned"),
        ("--only", "-rf"),
        ("--target", "$(touch pwned)"),
        ("--target", "`touch pwned`"),
        ("--target", "a@{1}"),
        ("--target", "a~1"),
        ("--target", "a:b"),
        ("--target", "tâche"),
        ("--target", "../x"),
        ("--base", "$(touch pwned)"),
        ("--base", "HEAD;touch pwned"),
        ("--base", "HEAD:README.md"),
        ("--base", "-rf"),
    ],
)
def test_hostile_argument_refused(e2e: E2EProject, tmp_path: Path, option: str, value: str) -> None:
    """Argument values reach git only after they are checked, and only as data."""
    commands: tuple[tuple[str, ...], ...] = (("run", f"{option}={value}"),)
    if option == "--base":
        commands = (("plan", f"--base={value}"), *commands)
    e2e.write("specs/a.md", GOOD_SPEC)
    check_case(e2e.root, Case({}, (option,), commands))
    assert not _pwned(tmp_path)


# --- paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(HOSTILE_PATHS.values()), ids=list(HOSTILE_PATHS))
def test_hostile_declared_path_refused(e2e: E2EProject, path: str) -> None:
    """In a workflow file's ``files:`` (the markdown channel is in ``test_cli_input``)."""
    workflow = f"tasks:\n  - {{id: a, agent: fake, task: x, files: [{_yaml(path)}]}}\n"
    check_case(e2e.root, Case({"specs/w.yaml": workflow}, ("specs/w.yaml", "tasks[0].files")))


def _body_footprint(e2e: E2EProject, paths: list[str]) -> tuple[list[str], str]:
    """Plan a spec listing ``paths`` under ``## Files`` and mentioning them in prose."""
    listed = "\n".join(f"- `{p}`" for p in paths)
    mentioned = " ".join(f"`{p}`" for p in paths)
    body = f"Touch {mentioned}.\n\n## Files\n\n{listed}\n- src/a.txt\n"
    e2e.write("specs/a.md", md("agent: fake", body))
    result = e2e.cli("plan", "--format", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    return plan["tasks"][0]["footprint"], "\n".join(plan["warnings"])


def test_hostile_paths_in_the_body_never_join_the_footprint(e2e: E2EProject) -> None:
    """Under ``## Files`` they are warned about and dropped; mentioned in prose, ignored. The
    footprint keeps only the safe path, so nothing outside the repository is ever claimed."""
    paths = [p for p in HOSTILE_PATHS.values() if "\0" not in p and p != ".GIT/config"]
    footprint, warned = _body_footprint(e2e, paths)
    assert footprint == ["src/a.txt"]
    for path in paths:
        assert repr(path) in warned, (path, warned)


def test_git_dir_in_another_case_in_the_body_is_not_claimed(e2e: E2EProject) -> None:
    """``.GIT/config`` is ``.git/config`` on a case-insensitive file system, as ``files:`` knows."""
    footprint, _ = _body_footprint(e2e, [".GIT/config"])
    assert footprint == ["src/a.txt"]


# --- symlinks ------------------------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the repository holding a valid spec and a place to write."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "b.md").write_text(md("agent: fake"), encoding="utf-8")
    return out


def _config(top: str) -> str:
    return f"{top}\n{FAKE_CONFIG}"


SYMLINK_CASES = {
    "specs-dir-out": (
        {"coordinator.toml": _config('specs = "linked"')},
        ("linked", "{outside}"),
        ("coordinator.toml", "specs", "outside the repository"),
    ),
    "specs-subdir-out": ({}, ("specs/more", "{outside}"), ("specs/more", "outside the repository")),
    "spec-file-out": (
        {},
        ("specs/b.md", "{outside}/b.md"),
        ("specs/b.md", "outside the repository"),
    ),
    "worktrees-out": ({}, ("worktrees", "{outside}"), ("coordinator.toml", "worktrees", "outside")),
    "worktrees-inside": ({}, ("worktrees", "src"), ("coordinator.toml", "worktrees", "symlink")),
    "worktrees-parent-out": (
        {"coordinator.toml": _config('worktrees = "build/trees"')},
        ("build", "{outside}"),
        ("coordinator.toml", "worktrees", "outside"),
    ),
}


@pytest.mark.parametrize("name", sorted(SYMLINK_CASES))
def test_symlink_out_refused(e2e: E2EProject, outside: Path, name: str) -> None:
    """Specs are never read, and worktrees never made, through a symlink; nothing is written
    outside the repository either."""
    files, (link, target), must = SYMLINK_CASES[name]
    e2e.write("specs/a.md", GOOD_SPEC)
    before = sorted(p.relative_to(outside).as_posix() for p in outside.rglob("*"))
    case = Case(files, must, symlink=(link, target.replace("{outside}", str(outside))))
    check_case(e2e.root, case)
    assert sorted(p.relative_to(outside).as_posix() for p in outside.rglob("*")) == before


# --- literal text to the agent, and where worktrees go --------------------------------------------


def _dump_project(e2e: E2EProject, tmp_path: Path, worktrees: str = "worktrees") -> Path:
    """An agent type ``dump`` that records its argv and environment in ``<tmp>/dumps``."""
    script = tmp_path / "dump_agent.py"
    script.write_text(DUMP_AGENT, encoding="utf-8")
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    hostile = f"$(touch {tmp_path}/pwned-env); `touch {tmp_path}/pwned-env2`"
    command = [
        "{python}",
        str(script),
        "{prompt}",
        "{task_id}",
        f"$(touch {tmp_path}/pwned-cfg)",
        "{{marker}}",
    ]
    e2e.write("prompts/bare.md", "{instructions}")  # the prompt is the body, byte for byte
    e2e.config(
        f'instances = 3\ngrace = "1s"\nworktrees = {_toml(worktrees)}\n\n[agents.dump]\n'
        f"command = [{', '.join(_toml(c) for c in command)}]\n"
        'prompt_template = "prompts/bare.md"\n'
        f'timeout = "60s"\nenv = {{ DUMP_DIR = {_toml(str(dumps))}, HOSTILE = {_toml(hostile)} }}\n'
    )
    return dumps


VALID_ODD_IDS = ("0", "a.b", "x-y_z", "lock", "main", "head-1", "coordinator", "worktrees")


def _worktree_paths(e2e: E2EProject) -> list[Path]:
    out = e2e.git("worktree", "list", "--porcelain")
    paths = [
        Path(line.removeprefix("worktree "))
        for line in out.splitlines()
        if line.startswith("worktree ")
    ]
    assert paths[0].resolve() == e2e.root.resolve()
    return paths[1:]


@pytest.mark.parametrize("worktrees", ["worktrees", "build/trees"])
def test_spec_text_reaches_the_agent_literally(
    e2e: E2EProject, tmp_path: Path, worktrees: str
) -> None:
    """``{prompt}`` is the body byte for byte, whatever shell syntax it holds; no ``pwned`` file
    appears anywhere; every worktree is directly under the worktrees directory."""
    dumps = _dump_project(e2e, tmp_path, worktrees)
    body = SHELL_TEXT.format(pwn=tmp_path)
    for task_id in VALID_ODD_IDS:
        e2e.spec(task_id, body.rstrip("\n"), agent="dump", files=[f"out/{task_id}/**"])
    workflow = {
        "tasks": [{"id": "from-yaml", "agent": "dump", "task": body, "files": ["out/from-yaml/**"]}]
    }
    e2e.write("specs/w.yaml", json.dumps(workflow, ensure_ascii=False))  # JSON is YAML
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    for task_id in (*VALID_ODD_IDS, "from-yaml"):
        record: dict[str, Any] = json.loads((dumps / f"{task_id}.json").read_text("utf-8"))
        assert record["argv"][0] == body, task_id
        assert record["argv"][0].encode("utf-8") == body.encode("utf-8")
        assert record["argv"][1:] == [task_id, f"$(touch {tmp_path}/pwned-cfg)", "{marker}"]
        assert record["hostile"] == f"$(touch {tmp_path}/pwned-env); `touch {tmp_path}/pwned-env2`"
        assert Path(record["cwd"]).resolve() == (e2e.root / worktrees / task_id).resolve()
    assert not _pwned(tmp_path)
    assert not list(Path.cwd().glob("pwned*"))
    base = (e2e.root / worktrees).resolve()
    listed = _worktree_paths(e2e)
    assert listed
    assert all(path.resolve().parent == base for path in listed), listed
    tasks = e2e.tasks()
    assert {t["state"] for t in tasks.values()} == {"merged"}, tasks
    assert all(Path(t["worktree"]).resolve().parent == base for t in tasks.values())
    merged = e2e.git("ls-tree", "-r", "--name-only", "coordinator/integration", "out").split()
    assert sorted(merged) == sorted(f"out/{i}/done.txt" for i in (*VALID_ODD_IDS, "from-yaml"))


def test_odd_file_names_written_by_an_agent_are_tracked_exactly(e2e: E2EProject) -> None:
    """Names with spaces, quotes, non-ASCII and a leading dash land as written, and count as
    inside the footprint (no false violation from git's path quoting)."""
    names = ["a b.txt", 'q"uote.txt', "ünï.txt", "-rf", "tab\there.txt", "$(x).txt"]
    writer = e2e.write("tools/writer.py", WRITER)
    names_arg = _toml(json.dumps(names))
    e2e.config(
        'instances = 1\ngrace = "1s"\n\n[agents.writer]\n'
        f'command = ["{{python}}", {_toml(str(writer))}, {names_arg}]\n'
    )
    e2e.spec("odd", "write odd names", agent="writer", files=["odd/**"])
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    task = e2e.tasks()["odd"]
    assert task["state"] == "merged"
    assert task["violations"] == [], task
    assert sorted(task["changed_files"]) == sorted(f"odd/{n}" for n in names)
    tree = (
        subprocess.run(
            ["git", "ls-tree", "-r", "-z", "--name-only", "coordinator/integration", "odd"],
            cwd=e2e.root,
            capture_output=True,
            check=True,
        )
        .stdout.decode("utf-8")
        .split("\0")
    )
    assert sorted(t for t in tree if t) == sorted(f"odd/{n}" for n in names)


def test_specs_dir_holding_the_worktrees_is_not_searched_there(e2e: E2EProject) -> None:
    """With ``specs = "."`` the worktrees of a run hold committed copies of every spec; they
    must not be read as specs (duplicate ids would refuse the next run)."""
    e2e.config(_config('specs = "."'))
    e2e.spec("a", "@write src/a.txt from a", files=["src/a.txt"])
    e2e.git("add", "specs/a.md")
    e2e.git("commit", "-q", "-m", "add the spec")
    first = e2e.cli("run")
    assert first.returncode == 0, first.stdout + first.stderr
    # the finished task's worktree (pooled for reuse) holds a committed copy of the spec
    assert list((e2e.root / "worktrees").glob("*/specs/a.md"))
    again = e2e.cli("validate")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("ok: 1 task;")
    assert os.path.isdir(e2e.root / "worktrees")
