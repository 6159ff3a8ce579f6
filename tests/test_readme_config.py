"""The README's config reference: a valid config that names every key the config model knows,
so a key added without documentation (or documentation lost in a merge) fails here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel

from coordinator.core.config import AgentConfig, Config

README = Path(__file__).resolve().parents[1] / "README.md"


def _reference() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Config\n", 1)[1]
    return section.split("```toml\n", 1)[1].split("```", 1)[0]


def _keys(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def test_the_config_reference_is_a_valid_config() -> None:
    Config.model_validate(tomllib.loads(_reference()))


def test_the_config_reference_names_every_key() -> None:
    block = _reference()
    tables: dict[str, set[str]] = {"": set()}
    current = ""
    for line in block.splitlines():
        header = re.match(r"\s*#?\s*\[([a-z_.]+)\]", line)
        if header:
            current = header.group(1)
            tables.setdefault(current, set())
            continue
        key = re.match(r"\s*#?\s*([a-z_]+)\s*=", line)
        if key:
            tables[current].add(key.group(1))
    missing: list[str] = []
    for name, field in Config.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            documented = tables.get(name, set())
            missing += [f"[{name}] {k}" for k in sorted(_keys(kind) - documented)]
        elif name == "agents":
            documented = set().union(*(v for t, v in tables.items() if t.startswith("agents.")))
            missing += [f"[agents.NAME] {k}" for k in sorted(_keys(AgentConfig) - documented)]
        elif (field.alias or name) not in tables[""]:
            missing.append(name)
    assert missing == []
