"""Fixtures for every test folder, and ``tests/`` on ``sys.path`` so ``gitutil`` imports."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

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
