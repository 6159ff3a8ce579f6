"""The package metadata installs without setuptools' deprecation warnings (issue 11, item 12)."""

from __future__ import annotations

import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_license_is_an_spdx_expression_that_setuptools_takes_without_warning() -> None:
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    project = data["project"]
    # The table form ({text = "MIT"}) makes setuptools >= 77 print a deprecation warning on
    # every build; the SPDX string needs setuptools >= 77, and rules out License classifiers.
    assert project["license"] == "MIT"
    assert not any(c.startswith("License ::") for c in project.get("classifiers", []))
    requires = data["build-system"]["requires"]
    assert any(r.replace(" ", "").startswith("setuptools>=") and
               tuple(int(x) for x in r.split(">=")[1].split(".")[:1]) >= (77,)
               for r in requires), requires  # fmt: skip
