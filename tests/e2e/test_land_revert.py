"""``coordinator land`` and ``coordinator revert`` end to end on real repositories.

Land must never touch a working tree except to fast-forward a clean checked-out branch, and
must refuse (exit non-zero, one line, nothing changed) whenever it would have to.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from e2e_util import E2EProject

TARGET = "coordinator/integration"


def _sha(e2e: E2EProject, rev: str) -> str:
    return e2e.git("rev-parse", rev).strip()


def _refs(e2e: E2EProject) -> str:
    return e2e.git("for-each-ref", "--format=%(refname) %(objectname)")


def _tree_state(e2e: E2EProject) -> tuple[str, ...]:
    """Everything a user could notice in the checkout: HEAD, index, status and file bytes."""
    digest = hashlib.sha256()
    for path in sorted(e2e.root.rglob("*")):
        rel = path.relative_to(e2e.root)
        if path.is_file() and rel.parts[0] not in {".git", "worktrees"}:
            digest.update(str(rel).encode() + b"\0" + path.read_bytes())
    return (
        e2e.git("symbolic-ref", "-q", "HEAD"),
        _sha(e2e, "HEAD"),
        e2e.git("status", "--porcelain=v2", "--untracked-files=all"),
        (e2e.root / ".git" / "index").read_bytes().hex(),
        digest.hexdigest(),
    )


def _landed(e2e: E2EProject, *tasks: tuple[str, str, str]) -> None:
    """Run tasks (id, file, text) to completion on the target."""
    for task_id, rel, text in tasks:
        e2e.spec(task_id, f"@write {rel} {text}", files=[rel])
    e2e.git("add", "specs", "coordinator.toml")
    e2e.git("commit", "-q", "-m", "specs")
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr


def _refused(e2e: E2EProject, *args: str) -> str:
    """Run a command that must refuse: non-zero, one line on stderr, nothing changed."""
    refs, state = _refs(e2e), _tree_state(e2e)
    result = e2e.cli(*args)
    assert result.returncode not in (0, 3), result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert _refs(e2e) == refs
    assert _tree_state(e2e) == state
    return lines[0]


# ------------------------------------------------------------------------------------ land


def test_land_fast_forwards_the_clean_checked_out_branch(e2e: E2EProject) -> None:
    _landed(e2e, ("one", "one.txt", "1"), ("two", "two.txt", "2"))
    e2e.write("untracked-note.txt", "mine\n")  # untracked files do not block a fast-forward
    old, target = _sha(e2e, "main"), _sha(e2e, TARGET)
    merges = _merge_order(e2e, "main")
    result = e2e.cli("land")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"main: fast-forward {old[:12]} -> {target[:12]} (2 task merges: {merges})"
    )
    assert _sha(e2e, "main") == target
    assert (e2e.root / "one.txt").read_text() == "1\n"  # the checkout followed
    assert e2e.git("status", "--porcelain", "--untracked-files=no") == ""
    assert (e2e.root / "untracked-note.txt").read_text() == "mine\n"
    again = e2e.cli("land", "--ff-only")
    assert again.returncode == 0
    assert again.stdout.strip() == f"main: up to date with {TARGET} ({target[:12]})"


@pytest.mark.parametrize("how", ["modified", "staged"])
def test_land_refuses_a_dirty_checkout(e2e: E2EProject, how: str) -> None:
    _landed(e2e, ("one", "one.txt", "1"))
    e2e.write("README.md", "local edit\n")
    if how == "staged":
        e2e.git("add", "README.md")
    line = _refused(e2e, "land")
    assert "uncommitted changes (1 file)" in line and "main" in line


def test_land_refuses_an_untracked_file_in_the_way(e2e: E2EProject) -> None:
    _landed(e2e, ("one", "one.txt", "1"))
    e2e.write("one.txt", "my own untracked one.txt\n")
    line = _refused(e2e, "land")
    assert "one.txt" in line or "overwritten" in line
    assert (e2e.root / "one.txt").read_text() == "my own untracked one.txt\n"


def test_land_refuses_a_diverged_checked_out_branch(e2e: E2EProject) -> None:
    _landed(e2e, ("one", "one.txt", "1"))
    e2e.write("mine.txt", "user work\n")
    e2e.git("add", "mine.txt")
    e2e.git("commit", "-q", "-m", "user work on main")
    line = _refused(e2e, "land")
    assert "not a fast-forward" in line
    _refused(e2e, "land", "--ff-only")


def test_land_onto_another_branch_never_touches_the_checkout(e2e: E2EProject) -> None:
    e2e.git("branch", "release")
    e2e.git("branch", "diverged")
    e2e.write("local.txt", "uncommitted, must survive\n")
    e2e.write("README.md", "dirty checkout\n")
    e2e.spec("one", "@write one.txt 1", files=["one.txt"])
    result = e2e.cli("run")
    assert result.returncode == 0, result.stdout + result.stderr
    state = _tree_state(e2e)

    target = _sha(e2e, TARGET)
    ff = e2e.cli("land", "--onto", "release", "--ff-only")
    assert ff.returncode == 0, ff.stderr
    assert "fast-forward" in ff.stdout
    assert _sha(e2e, "release") == target

    # A branch that moved on its own: --ff-only refuses, a plain land merges with plumbing.
    e2e.git("update-ref", "refs/heads/diverged", _commit_on(e2e, "diverged", "d.txt"))
    old = _sha(e2e, "diverged")
    line = _refused(e2e, "land", "--onto", "diverged", "--ff-only")
    assert "--ff-only" in line
    merged = e2e.cli("land", "--onto", "diverged")
    assert merged.returncode == 0, merged.stderr
    assert "merge" in merged.stdout
    new = _sha(e2e, "diverged")
    assert e2e.git("log", "-1", "--format=%P", new).split() == [old, target]
    assert e2e.git("show", "diverged:one.txt") == "1\n"
    assert e2e.git("show", "diverged:d.txt") == "d\n"
    assert _tree_state(e2e) == state


def _commit_on(e2e: E2EProject, branch: str, rel: str) -> str:
    """A commit on ``branch`` setting ``rel`` (top level), made without touching the checkout."""
    blob = _git_input(e2e, ["hash-object", "-w", "--stdin"], rel.partition(".")[0] + "\n")
    entries = [line for line in e2e.git("ls-tree", branch).splitlines() if not line.endswith(rel)]
    tree = _git_input(
        e2e, ["mktree"], "".join(f"{e}\n" for e in entries) + f"100644 blob {blob}\t{rel}\n"
    )
    return _git_input(e2e, ["commit-tree", tree, "-p", branch, "-m", f"set {rel}"], "")


def _git_input(e2e: E2EProject, args: list[str], text: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=e2e.root, input=text, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_land_refuses_a_conflicting_merge_and_branches_checked_out_elsewhere(
    e2e: E2EProject, tmp_path: Path
) -> None:
    _landed(e2e, ("one", "README.md", "agent readme"))
    e2e.git("branch", "other", "main")
    e2e.git("update-ref", "refs/heads/other", _commit_on(e2e, "other", "README.md"))
    line = _refused(e2e, "land", "--onto", "other")
    assert "conflicts in README.md" in line
    e2e.git("worktree", "add", "-q", str(tmp_path / "side"), "-b", "side", "main")
    line = _refused(e2e, "land", "--onto", "side")
    assert "checked out in" in line and "side" in line


def test_land_bad_input_exit_2(e2e: E2EProject) -> None:
    no_target = e2e.cli("land")
    assert no_target.returncode == 2 and "does not exist" in no_target.stderr
    _landed(e2e, ("one", "one.txt", "1"))
    bad = e2e.cli("land", "--onto", "no..pe")
    assert bad.returncode == 2 and "--onto: 'no..pe' contains '..'" in bad.stderr, bad.stderr
    e2e.git("checkout", "-q", "--detach", "main")
    detached = e2e.cli("land")
    assert detached.returncode == 2 and "detached" in detached.stderr


# ---------------------------------------------------------------------------------- revert


def test_revert_undoes_one_task_and_the_daemon_leaves_it_alone(e2e: E2EProject) -> None:
    _landed(e2e, ("keep", "keep.txt", "k"), ("drop", "drop.txt", "d"))
    e2e.write("base-edit.txt", "x\n")  # dirty checkout: revert never touches it
    state = _tree_state(e2e)
    head = _sha(e2e, TARGET)
    merge = e2e.git(
        "log", "--first-parent", "--format=%H", "--grep=Coordinator-Task: drop", TARGET
    ).split()[0]

    result = e2e.cli("revert", "drop")
    assert result.returncode == 0, result.stderr
    new = _sha(e2e, TARGET)
    assert result.stdout.strip() == f"reverted drop as {new[:12]}"
    assert e2e.git("log", "-1", "--format=%P", new).split() == [head]
    body = e2e.git("log", "-1", "--format=%B", new)
    assert "Coordinator-Revert: drop" in e2e.git(
        "log", "-1", "--format=%(trailers:only,unfold)", new
    )
    assert merge in body
    # -m 1 semantics: exactly what the merge brought in is gone, the rest stays.
    assert e2e.git("diff", f"{merge}", f"{merge}^1", "--stat") == e2e.git(
        "diff", head, new, "--stat"
    )
    files = e2e.git("ls-tree", "-r", "--name-only", TARGET).split()
    assert "keep.txt" in files and "drop.txt" not in files
    assert _tree_state(e2e) == state

    # Not rerun unasked ...
    quiet = e2e.cli("daemon", "--once")
    assert quiet.returncode == 0 and "nothing to do" in quiet.stdout, quiet.stdout + quiet.stderr
    assert _sha(e2e, TARGET) == new
    already = e2e.cli("revert", "drop")
    assert already.returncode == 0, already.stderr
    assert already.stdout == f"drop is already reverted on {TARGET} ({new[:12]})\n"
    assert _sha(e2e, TARGET) == new
    assert "no merge" in _refused(e2e, "revert", "nope")

    # ... but a changed spec runs it again.
    e2e.spec("drop", "@write drop.txt d2", files=["drop.txt"])
    again = e2e.cli("daemon", "--once")
    assert again.returncode == 0, again.stdout + again.stderr
    assert e2e.git("show", f"{TARGET}:drop.txt") == "d2\n"
    assert "Coordinator-Task: drop" in e2e.git("log", "-1", "--format=%B", TARGET)
    # and it can be reverted again, as its new merge
    assert e2e.cli("revert", "drop").returncode == 0
    assert "drop.txt" not in e2e.git("ls-tree", "-r", "--name-only", TARGET).split()


def test_revert_refuses_when_later_work_conflicts(e2e: E2EProject) -> None:
    e2e.spec("first", "@write shared.txt first", files=["shared.txt"])
    e2e.spec("second", "@append shared.txt second", files=["shared.txt"], deps=["first"])
    assert e2e.cli("run").returncode == 0
    line = _refused(e2e, "revert", "first")
    assert "conflicts" in line and "shared.txt" in line


def test_revert_refuses_while_the_target_is_checked_out(e2e: E2EProject, tmp_path: Path) -> None:
    _landed(e2e, ("one", "one.txt", "1"))
    e2e.git("worktree", "add", "-q", str(tmp_path / "look"), TARGET)
    line = _refused(e2e, "revert", "one")
    assert "checked out" in line


def test_land_onto_a_diverged_branch_says_what_it_brings_and_asks(e2e: E2EProject) -> None:
    """The target started from main; release split from main earlier and has its own commit:
    landing would also bring main's commits, which needs --yes."""
    e2e.git("branch", "release")
    e2e.git("update-ref", "refs/heads/release", _commit_on(e2e, "release", "r.txt"))
    for name in ("m1.txt", "m2.txt"):
        e2e.write(name, "main\n")
        e2e.git("add", name)
        e2e.git("commit", "-q", "-m", f"main work {name}")
    _landed(e2e, ("one", "one.txt", "1"), ("two", "two.txt", "2"))
    old = _sha(e2e, "release")
    line = _refused(e2e, "land", "--onto", "release")
    assert _refused(e2e, "land", "--onto", "release") == line
    merges = _merge_order(e2e, "release")
    assert line == (
        f"error: landing {TARGET} on release would bring 2 task merges: {merges}; "
        f"3 other commits: {TARGET} started from commits release does not have (oldest: "
        f"{_sha(e2e, 'main~2')[:12]} 'main work m1.txt'); pass --yes to land them too, or land "
        "--onto a branch that has them"
    )
    landed = e2e.cli("land", "--onto", "release", "--yes")
    assert landed.returncode == 0, landed.stderr
    new = _sha(e2e, "release")
    assert landed.stdout == (
        f"release: merge {old[:12]} -> {new[:12]} (2 task merges: {merges}; 3 other commits)\n"
    )
    assert e2e.git("show", "release:m1.txt") == "main\n"
    assert e2e.git("show", "release:r.txt") == "r\n"


def test_land_onto_a_new_branch_creates_it_from_the_target(e2e: E2EProject) -> None:
    _landed(e2e, ("one", "one.txt", "1"))
    state = _tree_state(e2e)
    result = e2e.cli("land", "--onto", "review/one")
    assert result.returncode == 0, result.stderr
    target = _sha(e2e, TARGET)
    assert result.stdout == f"review/one: created from {TARGET} at {target[:12]}\n"
    assert _sha(e2e, "review/one") == target
    assert _tree_state(e2e) == state
    reserved = e2e.cli("land", "--onto", "coordinator/task/x")
    assert reserved.returncode == 2 and "coordinator's task branches" in reserved.stderr


def _merge_order(e2e: E2EProject, since: str) -> str:
    """The task merges the target has and ``since`` lacks, oldest first, as land names them."""
    fmt = "--format=%(trailers:key=Coordinator-Task,valueonly)"
    out = e2e.git("log", "--reverse", "--first-parent", "--min-parents=2", fmt,
                  f"{since}..{TARGET}")
    return ", ".join(out.split())
