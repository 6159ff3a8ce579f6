"""The demo agent as the coordinator runs it: a real subprocess in a worktree-like directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coordinator.demo_agent import (
    AgentError,
    Edit,
    confine,
    parse_edits,
    replace_all,
    union_resolve,
)

FENCE = "```"


class Task:
    """A worktree (``wt``) with a spec and a markers dir beside it, outside the worktree."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.wt = root / "wt"
        self.wt.mkdir()
        (root / "markers").mkdir()
        self.spec = root / "spec.md"
        self.marker = root / "markers" / "task.json"

    def write(self, rel: str, text: str) -> None:
        path = self.wt / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def read(self, rel: str) -> str:
        return (self.wt / rel).read_text(encoding="utf-8")

    def run(
        self,
        *args: str,
        body: str | None = None,
        front: str = "agent: coder",
        env: dict[str, str] | None = None,
        spec_arg: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        if body is not None:
            self.spec.write_text(f"---\n{front}\n---\n{body}", encoding="utf-8")
        clean = {k: v for k, v in os.environ.items() if not k.startswith("COORDINATOR_")}
        argv = [sys.executable, "-m", "coordinator.demo_agent"]
        argv += [str(self.spec), "--marker", str(self.marker)] if spec_arg else []
        return subprocess.run(
            [*argv, *args],
            cwd=self.wt,
            env={**clean, **(env or {})},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def marker_json(self) -> dict[str, str]:
        return json.loads(self.marker.read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def files(self) -> set[str]:
        """Everything under the task's root: proves what the agent did and did not create."""
        return {str(p.relative_to(self.root)) for p in self.root.rglob("*")}


def block(verb: str, path: str, *lines: str, fence: str = FENCE) -> str:
    return "\n".join([f"{fence}{verb} {path}", *lines, fence]) + "\n"


@pytest.fixture
def task(tmp_path: Path) -> Task:
    return Task(tmp_path)


def test_applies_write_append_replace_and_delete(task: Task) -> None:
    task.write("calc/ops.py", "def add(a, b):\n    return a - b\n\n\nTODO = 1\n")
    task.write("README.md", "# calc")  # no trailing newline: append must add one first
    task.write("old.py", "gone\n")
    body = (
        "# A task\n\nProse around the blocks is ignored.\n\n"
        + block("write", "calc/new/mul.py", "def mul(a, b):", "    return a * b")
        + block("append", "README.md", "", "## Usage")
        + block(
            "replace",
            "calc/ops.py",
            "<<<<<<< SEARCH",
            "    return a - b",
            "=======",
            "    return a + b",
            ">>>>>>> REPLACE",
            "<<<<<<< SEARCH",
            "TODO = 1",
            "=======",
            ">>>>>>> REPLACE",
        )
        + block("delete", "old.py")
        + block("python", "example.py", "print('not an edit')")
    )
    result = task.run(body=body)
    assert result.returncode == 0, result.stderr
    assert task.read("calc/new/mul.py") == "def mul(a, b):\n    return a * b\n"
    assert task.read("README.md") == "# calc\n\n## Usage\n"
    assert task.read("calc/ops.py") == "def add(a, b):\n    return a + b\n\n\n"
    assert not (task.wt / "old.py").exists() and not (task.wt / "example.py").exists()
    assert task.marker_json() == {
        "status": "done",
        "summary": "1 file written, 1 appended, 1 replaced, 1 deleted "
        "(calc/new/mul.py, README.md, calc/ops.py, old.py)",
    }
    assert "write calc/new/mul.py" in result.stdout and "done:" in result.stdout
    assert task.files() - {"spec.md"} == {
        "wt",
        "markers",
        "markers/task.json",
        "wt/README.md",
        "wt/calc",
        "wt/calc/ops.py",
        "wt/calc/new",
        "wt/calc/new/mul.py",
    }  # no temp file left beside the marker


def test_a_longer_fence_may_contain_code_fences(task: Task) -> None:
    body = block("write", "doc.md", "# Doc", FENCE + "sh", "make", FENCE, fence="````")
    assert task.run(body=body).returncode == 0
    assert task.read("doc.md") == "# Doc\n```sh\nmake\n```\n"
    assert task.marker_json()["summary"] == "1 file written (doc.md)"


def test_prompt_file_and_env_paths(task: Task) -> None:
    """Only the prompt file: its whole text is the body; the marker path comes from the env."""
    prompt = task.root / "prompt.md"
    prompt.write_text(block("write", "a.txt", "from the prompt"), encoding="utf-8")
    env = {"COORDINATOR_PROMPT_FILE": str(prompt), "COORDINATOR_MARKER": str(task.marker)}
    result = task.run(env=env, spec_arg=False)
    assert result.returncode == 0, result.stderr
    assert task.read("a.txt") == "from the prompt\n"
    assert task.marker_json() == {"status": "done", "summary": "1 file written (a.txt)"}

    task.spec.write_text("---\nagent: x\n---\n" + block("write", "b.txt", "spec"), "utf-8")
    env["COORDINATOR_SPEC"] = str(task.spec)  # the spec wins over the prompt file
    assert task.run(env=env, spec_arg=False).returncode == 0
    assert task.read("b.txt") == "spec\n"


def test_replace_text_not_found_fails_and_changes_nothing(task: Task) -> None:
    task.write("a.py", "x = 1\n")
    body = block("write", "new.py", "x") + block(
        "replace", "a.py", "<<<<<<< SEARCH", "y = 2", "=======", "y = 3", ">>>>>>> REPLACE"
    )
    result = task.run(body=body)
    assert result.returncode == 1
    assert task.marker_json() == {
        "status": "failed",
        "summary": "replace in a.py: text not found: 'y = 2'",
    }
    assert not (task.wt / "new.py").exists() and task.read("a.py") == "x = 1\n"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/tmp/evil.txt", "must be relative"),
        ("../outside.txt", "'..' would leave"),
        ("sub/../../outside.txt", "'..' would leave"),
        (".git/config", "never touches .git"),
        ("sub/.GIT/hooks/x", "never touches .git"),
        ("link/escaped.txt", "resolves outside"),
        (".", "names the worktree itself"),
    ],
)
def test_paths_leaving_the_worktree_are_refused(task: Task, path: str, reason: str) -> None:
    (task.wt / "link").symlink_to(task.root)
    (task.wt / ".git").write_text("gitdir: elsewhere\n")
    before = task.files()
    for verb in ("write", "append", "delete"):
        task.marker.unlink(missing_ok=True)
        result = task.run(body=block("write", "ok.txt", "x") + block(verb, path, "bad"))
        assert result.returncode == 1
        marker = task.marker_json()
        assert marker["status"] == "failed" and reason in marker["summary"]
        assert task.files() == before | {"spec.md", "markers/task.json"}
    assert (task.wt / ".git").read_text() == "gitdir: elsewhere\n"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (f"{FENCE}write a.txt\nnever closed\n", "never closed"),
        (block("delete", "missing.txt"), "no such file"),
        (
            block("replace", "missing.txt", "<<<<<<< SEARCH", "a", "=======", ">>>>>>> REPLACE"),
            "no such file",
        ),
        (block("replace", "f.txt", "just text"), "outside a SEARCH/REPLACE"),
        (block("replace", "f.txt", "<<<<<<< SEARCH", "a", "======="), "expected"),
        (block("write", "f.txt/child", "x"), "f.txt is a file"),
    ],
)
def test_bad_blocks_fail_with_a_reason(task: Task, body: str, reason: str) -> None:
    task.write("f.txt", "a\n")
    result = task.run(body=body)
    assert result.returncode == 1
    assert task.marker_json()["status"] == "failed"
    assert reason in task.marker_json()["summary"]
    assert task.read("f.txt") == "a\n"


def test_no_spec_at_all_fails(task: Task) -> None:
    result = task.run("--marker", str(task.marker), spec_arg=False)
    assert result.returncode == 1
    assert "no spec" in task.marker_json()["summary"]


def test_sleep_comes_from_the_estimate_divided_by_the_speed(task: Task) -> None:
    started = time.monotonic()
    result = task.run(
        body="nothing to do\n", front="estimate: 1h", env={"COORDINATOR_DEMO_SPEED": "12000"}
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "working for 0.30s" in result.stdout
    assert elapsed >= 0.3
    assert task.marker_json() == {"status": "done", "summary": "no edits in the spec"}


def test_sleep_precedence_option_then_env_then_estimate(task: Task) -> None:
    front = "estimate: 90s"
    out = task.run(body="", front=front, env={"COORDINATOR_DEMO_SPEED": "1000"}).stdout
    assert "working for 0.09s" in out
    env = {"COORDINATOR_DEMO_SLEEP": "0.5m", "COORDINATOR_DEMO_SPEED": "1000"}
    assert "working for 0.03s" in task.run(body="", front=front, env=env).stdout
    assert "working for 0.01s" in task.run("--sleep", "10s", body="", front=front, env=env).stdout
    out = task.run("--sleep", "0", body="", front=front, env=env).stdout
    assert "working for" not in out


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"COORDINATOR_DEMO_SPEED": "0"}, "must be a positive number"),
        ({"COORDINATOR_DEMO_SPEED": "fast"}, "must be a positive number"),
        ({"COORDINATOR_DEMO_SLEEP": "soon"}, "bad sleep"),
    ],
)
def test_bad_sleep_settings_fail_before_any_edit(
    task: Task, env: dict[str, str], reason: str
) -> None:
    result = task.run(body=block("write", "a.txt", "x"), env=env)
    assert result.returncode == 1
    assert reason in task.marker_json()["summary"]
    assert not (task.wt / "a.txt").exists()


# ----------------------------------------------------------------- the pure helpers
def test_parse_edits_skips_other_fences_and_keeps_order() -> None:
    body = (
        "text\n```python\n```write not-an-edit\n```\n"
        + block("append", "b", "1")
        + block("write", "a b.txt", "2")
    )
    assert parse_edits(body) == [Edit("append", "b", ("1",)), Edit("write", "a b.txt", ("2",))]


def test_replace_matches_whole_lines_first_then_plain_text() -> None:
    edit = Edit("replace", "f", ("<<<<<<< SEARCH", "b", "=======", ">>>>>>> REPLACE"))
    assert replace_all("a\nb\nc\n", edit) == "a\nc\n"  # the line goes, no blank left
    edit = Edit("replace", "f", ("<<<<<<< SEARCH", "1", "=======", "2", ">>>>>>> REPLACE"))
    assert replace_all("x = 1 + 1", edit) == "x = 2 + 1"  # first occurrence only


def test_confine_accepts_ordinary_paths(tmp_path: Path) -> None:
    assert confine(tmp_path, "./a/b.txt") == tmp_path.resolve() / "a" / "b.txt"
    assert confine(tmp_path, ".github/workflows/ci.yml").name == "ci.yml"
    with pytest.raises(AgentError):
        confine(tmp_path, "")


def test_union_resolve_keeps_both_sides_and_drops_markers_and_the_base() -> None:
    text = (
        "top\n<<<<<<< ours\nfrom x\n||||||| base\noriginal\n=======\nfrom y\n>>>>>>> theirs\n"
        "Title\n=====\n"
    )
    assert union_resolve(text) == "top\nfrom x\nfrom y\nTitle\n=====\n"


def test_the_resolver_mode_resolves_the_conflicts_the_coordinator_names(tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    (wt / "d").mkdir(parents=True)
    (wt / "d" / "f.txt").write_text("<<<<<<< a\n1\n=======\n2\n>>>>>>> b\n", encoding="utf-8")
    marker = tmp_path / "marker.json"
    env = {**os.environ, "COORDINATOR_RESOLVE": "1", "COORDINATOR_CONFLICTS": "d/f.txt\n"}
    argv = [sys.executable, "-m", "coordinator.demo_agent", "--marker", str(marker)]
    proc = subprocess.run(argv, cwd=wt, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (wt / "d" / "f.txt").read_text(encoding="utf-8") == "1\n2\n"
    assert json.loads(marker.read_text(encoding="utf-8"))["status"] == "done"
    env["COORDINATOR_CONFLICTS"] = "../escape.txt"
    proc = subprocess.run(argv, cwd=wt, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and "refusing" in proc.stdout
