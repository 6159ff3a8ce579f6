"""Placeholder rendering and the agent environment: values are data, never syntax."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.core.argv import (
    ENV_PLACEHOLDERS,
    GIT_LOCAL_ENV,
    PLACEHOLDERS,
    agent_env,
    check_template,
    env_name,
    render_argv,
)

VALUES = {
    "task_id": "add-login",
    "spec": "specs/add-login.md",
    "prompt_file": "/repo/.git/coordinator/prompts/add-login.md",
    "worktree": "/repo/worktrees/add-login",
    "marker": "/repo/.git/coordinator/markers/r1/add-login.json",
    "base": "0123abcd",
    "run_id": "r1",
    "prompt": "Add login.\nIt must $(not) run `anything`.",
    "python": "/usr/bin/python3",
    "slot": "1",
    "port": "20010",
}


def test_every_placeholder_is_replaced() -> None:
    template = ["agent", *("{" + name + "}" for name in PLACEHOLDERS)]
    assert render_argv(template, VALUES) == ["agent", *(VALUES[n] for n in PLACEHOLDERS)]


def test_placeholders_inside_an_argument_and_several_per_argument() -> None:
    out = render_argv(["--task={task_id}", "{worktree}/{spec}", "plain"], VALUES)
    assert out == [
        "--task=add-login",
        "/repo/worktrees/add-login/specs/add-login.md",
        "plain",
    ]


def test_doubled_braces_are_literal_braces() -> None:
    out = render_argv(["{{task_id}}", "{{{task_id}}}", "json={{}}", "}}{{"], VALUES)
    assert out == ["{task_id}", "{add-login}", "json={}", "}{"]


@pytest.mark.parametrize(
    "value",
    [
        "$(rm -rf /)",
        "`rm -rf /`",
        "a; rm -rf / #",
        "line1\nline2\r\n",
        "{marker}",
        "{{marker}}",
        "{unknown}",
        "'\"\\ && || | > < *?[]~",
        "",
        " leading and trailing ",
        "ünïcødé ✓",
    ],
)
def test_values_are_inserted_literally_and_never_re_expanded(value: str) -> None:
    values = {**VALUES, "spec": value}
    assert render_argv(["{spec}", "x{spec}y", "{task_id}"], values) == [
        value,
        f"x{value}y",
        "add-login",
    ]


def test_an_empty_value_keeps_its_argument() -> None:
    assert render_argv(["a", "{base}", "b"], {**VALUES, "base": ""}) == ["a", "", "b"]


@given(st.text().filter(lambda s: "\0" not in s))
def test_any_value_round_trips(value: str) -> None:
    values = {**VALUES, "prompt_file": value}
    assert render_argv(["<{prompt_file}>"], values) == [f"<{value}>"]


def test_unknown_placeholder_names_it_and_lists_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown placeholder \{promt_file\}") as info:
        render_argv(["agent", "{promt_file}"], VALUES)
    for name in PLACEHOLDERS:
        assert "{" + name + "}" in str(info.value)


@pytest.mark.parametrize("element", ["{}", "{ task_id }", "{TASK_ID}", "{task_id!r}", "{spec:>9}"])
def test_format_syntax_is_not_supported(element: str) -> None:
    with pytest.raises(ValueError, match="unknown placeholder"):
        render_argv([element], VALUES)


@pytest.mark.parametrize("element", ["{task_id", "task_id}", "a{b{task_id}", "}"])
def test_stray_braces_are_errors(element: str) -> None:
    with pytest.raises(ValueError, match="unmatched"):
        render_argv([element], VALUES)


def test_missing_value_for_a_known_placeholder() -> None:
    with pytest.raises(ValueError, match=r"no value given for placeholder \{base\}"):
        render_argv(["{base}"], {"task_id": "t"})
    assert render_argv(["{task_id}"], {"task_id": "t"}) == ["t"]


def test_nul_bytes_cannot_reach_argv() -> None:
    with pytest.raises(ValueError, match="NUL"):
        render_argv(["{spec}"], {**VALUES, "spec": "a\0b"})


def test_a_string_template_is_rejected() -> None:
    with pytest.raises(TypeError, match="list"):
        render_argv("python agent.py", VALUES)


def test_check_template_validates_without_values() -> None:
    check_template(["agent", "{prompt_file}", "{{literal}}"])
    with pytest.raises(ValueError, match=r"\{nope\}"):
        check_template(["{nope}"])


def test_agent_env_sets_coordinator_variables_and_extra() -> None:
    env = agent_env({"PATH": "/bin", "HOME": "/h"}, VALUES, {"API_MODE": "fast"})
    for name in ENV_PLACEHOLDERS:
        assert env[env_name(name)] == VALUES[name]
    assert "COORDINATOR_PROMPT" not in env  # inline only: it can exceed environment limits
    assert env["COORDINATOR_TASK_ID"] == "add-login"
    assert env["COORDINATOR_PROMPT_FILE"] == VALUES["prompt_file"]
    assert env["PATH"] == "/bin"
    assert env["HOME"] == "/h"
    assert env["API_MODE"] == "fast"


def test_agent_env_strips_repository_pinning_git_variables() -> None:
    base = {name: "/elsewhere" for name in GIT_LOCAL_ENV}
    base |= {
        "GIT_CONFIG_KEY_0": "user.name",
        "GIT_CONFIG_VALUE_0": "x",
        "GIT_AUTHOR_NAME": "kept",
        "GIT_SSH_COMMAND": "ssh -i key",
        "PATH": "/bin",
    }
    env = agent_env(base, VALUES, {})
    assert not [key for key in env if key in GIT_LOCAL_ENV]
    assert "GIT_DIR" not in env
    assert "GIT_WORK_TREE" not in env
    assert "GIT_INDEX_FILE" not in env
    assert "GIT_OBJECT_DIRECTORY" not in env
    assert "GIT_CONFIG_KEY_0" not in env
    assert env["GIT_AUTHOR_NAME"] == "kept"
    assert env["GIT_SSH_COMMAND"] == "ssh -i key"


def test_extra_may_set_git_variables_deliberately_but_not_coordinator_ones() -> None:
    env = agent_env(
        {"COORDINATOR_TASK_ID": "outer"},
        VALUES,
        {"GIT_DIR": "/explicit", "COORDINATOR_RUN_ID": "forged"},
    )
    assert env["GIT_DIR"] == "/explicit"
    assert env["COORDINATOR_TASK_ID"] == "add-login"
    assert env["COORDINATOR_RUN_ID"] == "r1"


def test_agent_env_requires_every_value_and_leaves_inputs_alone() -> None:
    base = {"GIT_DIR": "/x"}
    with pytest.raises(ValueError, match="base, run_id"):
        agent_env(base, {k: v for k, v in VALUES.items() if k not in ("base", "run_id")}, {})
    agent_env(base, VALUES, {})
    assert base == {"GIT_DIR": "/x"}


def test_agent_env_rejects_unpassable_values() -> None:
    with pytest.raises(ValueError, match="cannot be passed"):
        agent_env({}, {**VALUES, "summary": "x"} | {"spec": "a\0b"}, {})
    with pytest.raises(ValueError, match="cannot be passed"):
        agent_env({}, VALUES, {"A=B": "x"})
