"""Bad input through the real CLI: exit 2, one line per problem naming file, field and fix,
and nothing in the repository changed."""

from __future__ import annotations

import pytest
from e2e_util import E2EProject


def _refs_and_state(e2e: E2EProject) -> tuple[str, str, str]:
    return (
        e2e.git("for-each-ref"),
        e2e.git("status", "--porcelain=v2", "--untracked-files=all"),
        (e2e.root / ".git" / "index").read_bytes().hex(),
    )


CASES = {
    "no-front-matter": ("specs/a.md", "just text\n", "specs/a.md", "front matter"),
    "yaml-syntax": ("specs/a.md", "---\nagent: [fake\n---\nbody\n", "specs/a.md", "line"),
    "unknown-field": (
        "specs/a.md",
        "---\nagent: fake\ndepends: [x]\n---\nbody\n",
        "depends",
        "depends_on",
    ),
    "unknown-agent": ("specs/a.md", "---\nagent: fak\n---\nbody\n", "agent", "fake"),
    "missing-agent": ("specs/a.md", "---\nid: a\n---\nbody\n", "agent", "specs/a.md"),
    "bad-id": ("specs/a.md", "---\nid: ../x\nagent: fake\n---\nbody\n", "id", "specs/a.md"),
    "bad-duration": (
        "specs/a.md",
        "---\nagent: fake\ntimeout: soon\n---\nbody\n",
        "timeout",
        "90s",
    ),
    "escaping-path": (
        "specs/a.md",
        "---\nagent: fake\nfiles: [../../etc/passwd]\n---\nbody\n",
        "files",
        "specs/a.md",
    ),
    "git-path": (
        "specs/a.md",
        "---\nagent: fake\nfiles: [.git/config]\n---\nbody\n",
        "files",
        ".git",
    ),
    "absolute-path": (
        "specs/a.md",
        "---\nagent: fake\nfiles: [/etc/passwd]\n---\nbody\n",
        "files",
        "a.md",
    ),
    "unknown-dep": (
        "specs/a.md",
        "---\nagent: fake\ndepends_on: [nope]\n---\nbody\n",
        "depends_on",
        "nope",
    ),
    "self-dep": ("specs/a.md", "---\nagent: fake\ndepends_on: [a]\n---\nbody\n", "depends_on", "a"),
    "workflow-no-tasks": ("specs/w.yaml", "name: x\n", "specs/w.yaml", "tasks"),
    "bad-glob": ("specs/a.md", "---\nagent: fake\nfiles: ['src/[a']\n---\nbody\n", "files", "a.md"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_spec_exit_2_one_line_nothing_changed(e2e: E2EProject, case: str) -> None:
    rel, text, must1, must2 = CASES[case]
    e2e.write(rel, text)
    before = _refs_and_state(e2e)
    for command in (["validate"], ["plan"], ["run"]):
        result = e2e.cli(*command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert lines, result.stderr
        assert any(must1 in line and must2 in line for line in lines), lines
    assert _refs_and_state(e2e) == before
    assert not (e2e.root / ".git" / "coordinator" / "state.db").exists()


def test_cycle_is_named(e2e: E2EProject) -> None:
    e2e.spec("a", "x", deps=["c"], files=["a"])
    e2e.spec("b", "x", deps=["a"], files=["b"])
    e2e.spec("c", "x", deps=["b"], files=["c"])
    result = e2e.cli("validate")
    assert result.returncode == 2
    assert "cycle: a -> c -> b -> a" in result.stderr or "cycle: a -> b -> c -> a" in result.stderr


def test_duplicate_id_names_both_files(e2e: E2EProject) -> None:
    e2e.write("specs/one.md", "---\nid: same\nagent: fake\n---\nbody\n")
    e2e.write("specs/two.md", "---\nid: same\nagent: fake\n---\nbody\n")
    result = e2e.cli("validate")
    assert result.returncode == 2
    assert "specs/one.md" in result.stderr and "specs/two.md" in result.stderr


def test_non_utf8_spec(e2e: E2EProject) -> None:
    (e2e.root / "specs").mkdir()
    (e2e.root / "specs" / "bad.md").write_bytes(b"---\nagent: fake\n---\n\xff\xfe body\n")
    result = e2e.cli("validate")
    assert result.returncode == 2
    assert "specs/bad.md" in result.stderr and "UTF-8" in result.stderr


def test_empty_specs_directory(e2e: E2EProject) -> None:
    (e2e.root / "specs").mkdir()
    result = e2e.cli("plan")
    assert result.returncode == 2
    assert "no spec files" in result.stderr


def test_not_a_git_repository(tmp_path_factory: pytest.TempPathFactory) -> None:
    got = E2EProject(tmp_path_factory.mktemp("plain")).cli("plan")
    assert got.returncode == 2
    assert "not a git repository" in got.stderr


@pytest.mark.parametrize(
    ("config", "field", "fix"),
    [
        ("instance = 2\n", "instance", "instances"),
        ("instances = 0\n", "instances", "at least 1"),
        ("[agents.fake]\ncommand = 'python agent.py'\n", "command", "argv list"),
        ("on_conflict = 'merge'\n", "on_conflict", "retry"),
        ("worktrees = '../elsewhere'\n", "worktrees", "inside the repository"),
        ("instances = [\n", "coordinator.toml", "TOML"),
    ],
)
def test_config_errors(e2e: E2EProject, config: str, field: str, fix: str) -> None:
    e2e.spec("a", "x", files=["a.txt"])
    e2e.config(config)
    result = e2e.cli("validate")
    assert result.returncode == 2, result.stderr
    assert "coordinator.toml" in result.stderr
    assert field in result.stderr and fix in result.stderr, result.stderr


@pytest.mark.parametrize(
    "args",
    [["run", "--instances", "0"], ["run", "--only", "ghost"], ["plan", "--format", "svg"]],
)
def test_bad_arguments(e2e: E2EProject, args: list[str]) -> None:
    e2e.spec("a", "x", files=["a.txt"])
    before = _refs_and_state(e2e)
    result = e2e.cli(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert _refs_and_state(e2e) == before
