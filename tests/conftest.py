"""Fixtures for every test folder, and ``tests/`` and ``tests/e2e/`` on ``sys.path`` so that
``gitutil`` and ``e2e_util`` import (one conftest: mypy checks the tests as one tree)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
for _helpers in (TESTS, TESTS / "e2e"):
    if str(_helpers) not in sys.path:
        sys.path.insert(0, str(_helpers))

from e2e_util import FAKE_CONFIG, E2EProject  # noqa: E402
from gitutil import make_repo  # noqa: E402


@pytest.fixture
def isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Git in this process sees no inherited ``GIT_*`` and no global or system config."""
    for key in [k for k in os.environ if k.startswith("GIT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)


@pytest.fixture
def repo(tmp_path: Path, isolated_git: None) -> Path:
    """A fresh real repository in ``tmp_path/repo``: branch ``main``, one commit, local user."""
    return make_repo(tmp_path)


@pytest.fixture
def e2e(tmp_path: Path) -> E2EProject:
    """End to end: a real repository in tmp_path, driven by the real CLI in a subprocess."""
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
