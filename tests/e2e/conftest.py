"""End-to-end fixtures: a real repository in tmp_path and the real CLI in a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_util import FAKE_CONFIG, E2EProject


@pytest.fixture
def e2e(tmp_path: Path) -> E2EProject:
    root = tmp_path / "repo"
    root.mkdir()
    project = E2EProject(root)
    project.git("init", "-q", "-b", "main")
    project.git("config", "user.name", "Test User")
    project.git("config", "user.email", "test@example.com")
    project.write("README.md", "# test repo\n")
    project.write("src/base.txt", "base\n")
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "initial")
    project.config(FAKE_CONFIG)
    return project
