"""``[overlap] union``: concurrent changelog edits merge with git's union driver, through a
coordinator-owned attributes file, with nothing of the user's changed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gitutil import commit_on, git

from coordinator.core.config import Identity
from coordinator.io.gitrepo import GitRepo
from coordinator.io.merger import merge_task
from coordinator.io.runfiles import RunFiles

BOT = Identity(name="Coord Bot", email="bot@coordinator.test")
TARGET = "refs/heads/coordinator/integration"


@pytest.fixture
def grepo(repo: Path) -> Iterator[GitRepo]:
    git(repo, "branch", "coordinator/integration")
    log = {"CHANGES.rst": "Changes\n=======\n\n- old entry\n"}
    commit_on(repo, TARGET, log, "changelog", "coordinator/integration")
    with GitRepo.discover(repo) as opened:
        yield opened


def two_entries(repo: Path) -> tuple[str, str]:
    old = "Changes\n=======\n\n- old entry\n"
    a = commit_on(repo, TARGET, {"CHANGES.rst": old + "- from a\n"}, "a")
    b = commit_on(repo, TARGET, {"CHANGES.rst": old + "- from b\n"}, "b")
    return a, b


def test_union_merges_both_added_lines_and_changes_no_user_file(repo: Path, grepo: GitRepo) -> None:
    a, b = two_entries(repo)
    attributes = RunFiles.create(grepo.git_dir, "r1").union_attributes(["CHANGES*"])
    assert attributes is not None
    assert attributes.read_text() == "/CHANGES* merge=union\n"
    assert merge_task(grepo, TARGET, a, "a\n", BOT, attributes=attributes).status == "merged"
    second = merge_task(grepo, TARGET, b, "b\n", BOT, attributes=attributes)
    assert second.status == "merged", second
    text = git(repo, "show", f"{TARGET}:CHANGES.rst")
    assert "- from a" in text and "- from b" in text and text.count("- old entry") == 1
    assert not (grepo.git_dir / "info" / "attributes").exists()
    assert not (repo / ".gitattributes").exists()
    assert git(repo, "config", "--get", "core.attributesFile", check=False).strip() == ""


def test_without_union_the_same_edits_conflict(repo: Path, grepo: GitRepo) -> None:
    a, b = two_entries(repo)
    assert merge_task(grepo, TARGET, a, "a\n", BOT).status == "merged"
    outcome = merge_task(grepo, TARGET, b, "b\n", BOT)
    assert (outcome.status, outcome.conflicts) == ("conflict", ("CHANGES.rst",))


def test_union_applies_only_to_its_globs(repo: Path, grepo: GitRepo) -> None:
    a = commit_on(repo, TARGET, {"notes.txt": "from a\n"}, "a")
    commit_on(repo, TARGET, {"notes.txt": "x\n"}, "notes", "coordinator/integration")
    attributes = RunFiles.create(grepo.git_dir, "r2").union_attributes(["CHANGES*"])
    outcome = merge_task(grepo, TARGET, a, "a\n", BOT, attributes=attributes)
    assert outcome.status == "conflict"
