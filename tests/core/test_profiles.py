"""Agent profiles: ``profile = "codex"`` stands for a ready command, checked like any config."""

from __future__ import annotations

import pytest

from coordinator.core.argv import check_template
from coordinator.core.config import parse_config
from coordinator.core.profiles import PROFILES
from coordinator.errors import InputError


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_a_profile_gives_its_command(name: str) -> None:
    config = parse_config({"agents": {"a": {"profile": name, "instances": 2}}}, "c.toml")
    assert config.agents["a"].command == list(PROFILES[name])
    assert config.agents["a"].instances == 2
    check_template(config.agents["a"].command)  # every placeholder is a known one


@pytest.mark.parametrize(
    ("agent", "field", "words"),
    [
        ({"profile": "codx"}, "agents.a.profile", "'codex'"),
        ({}, "agents.a", "needs a command, or a profile"),
        ({"profile": "codex", "command": ["x"]}, "agents.a", "both command and profile"),
        ({"command": []}, "agents.a.command", "at least 1 item"),
    ],
)
def test_a_wrong_or_missing_profile_is_one_clear_line(
    agent: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(InputError) as caught:
        parse_config({"agents": {"a": agent}}, "c.toml")
    problems = caught.value.problems
    assert len(problems) == 1
    assert (problems[0].file, problems[0].field) == ("c.toml", field)
    assert words in problems[0].message and problems[0].fix


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"on_conflict": "resolve"}, "needs a resolver agent type"),
        ({"on_conflict": "resolve", "merge": {"resolver": "fixr"}}, "'fixr' names no agent type"),
    ],
)
def test_a_resolver_must_name_an_agent_type(data: dict[str, object], words: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_config({"agents": {"fixer": {"profile": "demo"}}, **data}, "c.toml")
    (problem,) = caught.value.problems
    assert (problem.file, problem.field) == ("c.toml", "merge.resolver")
    assert words in problem.message and "agent types: fixer" in (problem.fix or "")


def test_a_resolver_naming_an_agent_type_is_accepted() -> None:
    data = {"agents": {"fixer": {"profile": "demo"}}, "merge": {"resolver": "fixer"}}
    config = parse_config({**data, "on_conflict": "resolve"}, "c.toml")
    assert (config.on_conflict, config.merge.resolver) == ("resolve", "fixer")
