"""The agent's prompt is rendered from a template: by default the instructions, the predicted
files, what the dependencies changed and the marker protocol (issue 11, item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_util import FAKE_CONFIG, E2EProject

COPY = "import shutil,sys; shutil.copy(sys.argv[1], sys.argv[2])"


def _copying_agent(e2e: E2EProject, out: Path, extra: str = "") -> None:
    """Agent type ``copy`` saves its prompt file as ``<out>/<task>.md`` and changes nothing."""
    out.mkdir()
    argv = ["{python}", "-c", COPY, "{prompt_file}", f"{out}/{{task_id}}.md"]
    e2e.config(FAKE_CONFIG + f"\n[agents.copy]\ncommand = {json.dumps(argv)}\n{extra}")


def test_the_default_prompt_tells_files_dependencies_and_the_marker(
    e2e: E2EProject, tmp_path: Path
) -> None:
    out = tmp_path / "prompts"
    _copying_agent(e2e, out)
    e2e.spec("early", "@write lib/early.txt e", files=["lib/early.txt"])
    e2e.spec("late", "@write lib/late.txt l\n@write lib/more.txt m", files=["lib/*.txt"])
    e2e.spec("user", "Use the library.\nKeep {marker} literal.", agent="copy",
             deps=["early", "late"], files=["app.txt", "docs/*.md"])  # fmt: skip
    assert e2e.cli("run", "--only", "early").returncode == 0
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    tasks = e2e.tasks()
    prompt = (out / "user.md").read_text()
    assert prompt.startswith("# Task user\n\nUse the library.\nKeep {marker} literal.\n")
    assert "## Files you may change\n\n- `app.txt`\n- `docs/*.md`\n" in prompt
    early = e2e.git("log", "-1", "--format=%H", "--grep=Coordinator-Task: early",
                    "coordinator/integration").strip()  # fmt: skip
    assert f"- `early` (merged as {early[:12]}) changed `lib/early.txt`." in prompt
    late = tasks["late"]["merge_commit"]
    assert f"- `late` (merged as {late[:12]}) changed `lib/late.txt`, `lib/more.txt`." in prompt
    marker = e2e.root / ".git" / "coordinator" / "runs" / result_run(e2e) / "markers"
    assert f"write the completion marker file {marker / 'user.json'}" in prompt.replace("\n", " ")
    assert '{"status": "done", "summary": "what you did"}' in prompt
    spec_copy = marker.parent / "prompts" / "user.spec.md"
    assert spec_copy.read_text().startswith("---\nid: user\nagent: copy\n")  # {spec}: the spec
    assert (marker.parent / "prompts" / "user.md").read_text() == prompt


def result_run(e2e: E2EProject) -> str:
    run_id: str = e2e.status()["run_id"]
    return run_id


def test_a_template_of_the_agent_type_replaces_the_default(
    e2e: E2EProject, tmp_path: Path
) -> None:
    out = tmp_path / "prompts"
    _copying_agent(e2e, out, 'prompt_template = "prompts/copy.md"\n')
    e2e.write("prompts/copy.md", 'Do {task_id} ({agent}): {instructions}Files:\n{footprint}\n'
              'Literal {{task_id}}, {"json": 1} and { braces }.\n')  # fmt: skip
    e2e.spec("t", "The work.", agent="copy", files=["t.txt"])
    e2e.spec("other", "@write o.txt o", files=["o.txt"])
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "t.md").read_text() == (
        "Do t (copy): The work.\nFiles:\n- `t.txt`\n"
        'Literal {task_id}, {"json": 1} and { braces }.\n'
    )


@pytest.mark.parametrize(
    ("setting", "file", "expected"),
    [
        ('"prompts/none.md"', None, "'prompts/none.md' does not exist"),
        ('"prompts/p.md"', "Hi {instrutions}", "unknown placeholder {instrutions}; known:"),
        ('"../p.md"', None, "has a '..' segment"),
        ('"prompts/p.md"', b"\xff", "'prompts/p.md' is not UTF-8"),
    ],
)
def test_a_bad_template_is_one_line_naming_the_field(
    e2e: E2EProject, tmp_path: Path, setting: str, file: str | bytes | None, expected: str
) -> None:
    e2e.config(FAKE_CONFIG + f"prompt_template = {setting}\n")
    if isinstance(file, bytes):
        (e2e.root / "prompts").mkdir()
        (e2e.root / "prompts" / "p.md").write_bytes(file)
    elif file is not None:
        e2e.write("prompts/p.md", file)
    e2e.spec("t", "x", files=["t.txt"])
    for command in ("validate", "run"):
        result = e2e.cli(command)
        assert result.returncode == 2, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "agents.fake.prompt_template" in lines[0], lines
        assert expected in lines[0] and lines[0].startswith("error: coordinator.toml: "), lines
    assert not (e2e.root / "worktrees").exists()
