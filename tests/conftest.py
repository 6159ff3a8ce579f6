"""Fixtures for every test folder, and ``tests/`` and ``tests/e2e/`` on ``sys.path`` so that
``gitutil`` and ``e2e_util`` import (one conftest: mypy checks the tests as one tree)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests check properties, not speed: on a loaded CI machine (2 cores shared with
# end-to-end tests) one example can take longer than hypothesis's 200 ms default deadline.
settings.register_profile("coordinator", deadline=None)
settings.load_profile("coordinator")

TESTS = Path(__file__).resolve().parent
for _helpers in (TESTS, TESTS / "e2e"):
    if str(_helpers) not in sys.path:
        sys.path.insert(0, str(_helpers))

from e2e_util import FAKE_CONFIG, E2EProject, new_project  # noqa: E402
from gitutil import make_repo  # noqa: E402

from coordinator.io.gitrepo import GitRepo  # noqa: E402
from coordinator.io.procs import reap_orphans  # noqa: E402


@pytest.fixture(autouse=True)
def _reap_adopted_zombies() -> Iterator[None]:
    """A test that ran the engine in this process left it a subreaper: orphans of any later
    test (a daemonizing git, an intermediate bwrap) become its children. Reap the dead ones
    after each test, so that no test sees another test's zombies as its own leftovers."""
    yield
    reap_orphans()


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
def grepo(repo: Path) -> Iterator[GitRepo]:
    """``repo`` opened through the git door, closed (its readers too) after the test."""
    with GitRepo.discover(repo) as opened:
        yield opened


@pytest.fixture
def e2e(tmp_path: Path) -> E2EProject:
    """End to end: a real repository in tmp_path, driven by the real CLI in a subprocess."""
    files = {"README.md": "# test repo\n", "src/base.txt": "base\n"}
    return new_project(tmp_path / "repo", FAKE_CONFIG, files)


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say up front when the sandbox tests cannot run here (they skip, with this reason)."""
    if shutil.which("bwrap") is None:
        return ("sandbox tests: skipped, bwrap is not installed "
                "(install the Debian package bubblewrap to run them)")  # fmt: skip
    return None
