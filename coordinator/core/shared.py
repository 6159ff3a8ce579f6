"""What changed in the state every task shares, and what the coordinator does about it.

The repository's config, hooks and attribute files, and its refs, are shared by every agent in
``worktree`` mode (and reachable by a plain file write in ``clone`` mode). At run start the
coordinator records them; whenever it looks again it asks these pure functions what changed
and what each change calls for:

* a file (config, a hook, ``info/attributes``...) that differs is put back as it was;
* the target, and the coordinator's own refs whose value it knows (branches of tasks that have
  ended, branches of earlier runs), are put back to the recorded value;
* any other ref (the user's branches and tags) is only reported, with the command that would
  put it back: the user may have moved it on purpose;
* who did it: an agent that was running alone (and could write there at all) is to blame.
"""

from __future__ import annotations

import shlex
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from coordinator.core.refs import HEADS, OUR_REFS, PREFIX

SANDBOX = "sandbox"
# A file as recorded: its bytes (a symlink's target for a link) and its mode; None: absent.
FileState = tuple[bytes, int]


def file_changes(before: Mapping[str, FileState], after: Mapping[str, FileState]) -> list[str]:
    """Paths created, deleted or changed (content or mode) between two snapshots, sorted."""
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def describe_file(path: str, before: FileState | None, after: FileState | None) -> str:
    if before is None:
        return f"{path} created"
    if after is None:
        return f"{path} deleted"
    return f"{path} changed" if before[0] != after[0] else f"{path} mode changed"


@dataclass(frozen=True)
class RefChange:
    """``ref`` held ``before`` and holds ``after`` (None: absent)."""

    ref: str
    before: str | None
    after: str | None

    def describe(self) -> str:
        if self.before is None:
            return f"{self.ref} created at {short(self.after)}"
        if self.after is None:
            return f"{self.ref} deleted (was {short(self.before)})"
        return f"{self.ref} moved from {short(self.before)} to {short(self.after)}"

    def restore_command(self) -> str:
        """The git command that puts the ref back, refusing if it moved again meanwhile (for
        the user to type; the coordinator never runs it)."""
        if self.before is None:
            return "git update-ref " + shlex.join(["-d", self.ref, self.after or ""])
        return "git update-ref " + shlex.join([self.ref, self.before, self.after or ""])


def short(sha: str | None) -> str:
    return (sha or "")[:12]


@dataclass(frozen=True)
class RefPlan:
    """``restore``: the coordinator's refs to put back (ref -> value, None: delete it);
    ``user``: refs that are not the coordinator's, to report."""

    restore: Mapping[str, RefChange]
    user: tuple[RefChange, ...]


def plan_refs(
    start: Mapping[str, str],
    now: Mapping[str, str],
    *,
    target: tuple[str, str],
    at_rest: Mapping[str, str],
    task_refs: Collection[str],
) -> RefPlan:
    """Compare refs now with the run's record.

    ``target`` is the target ref and the value the coordinator last wrote to it; ``at_rest``
    the coordinator's refs that no step of this run writes any more (branches of tasks that
    merged or ended), with their values; ``task_refs`` the task branches of this run (their
    running agents move them, so only ``at_rest`` says what they hold). Other refs under the
    coordinator's prefix that existed at the start belong to earlier runs and keep their value.
    """
    target_ref, expected = target
    restore: dict[str, RefChange] = {}
    user: list[RefChange] = []
    ours = HEADS + PREFIX
    for ref in sorted(start.keys() | now.keys() | at_rest.keys() | {target_ref}):
        current = now.get(ref)
        if ref == target_ref:
            wanted: str | None = expected
        elif ref in at_rest:
            wanted = at_rest[ref]
        elif ref.startswith(ours):
            if ref in task_refs or ref not in start:
                continue  # a running task's, or one this run made
            wanted = start[ref]
        elif ref.startswith(OUR_REFS):
            continue
        else:
            if start.get(ref) != current:
                user.append(RefChange(ref, start.get(ref), current))
            continue
        if current != wanted:
            restore[ref] = RefChange(ref, wanted, current)
    return RefPlan(restore, tuple(user))


def suspects(live: Mapping[str, str]) -> list[str]:
    """The tasks whose agents could have written shared state: running, and not sandboxed
    (a sandboxed agent sees the repository read-only)."""
    return sorted(task for task, mode in live.items() if mode != SANDBOX)


def to_blame(live: Mapping[str, str]) -> str | None:
    """The one task a change can be pinned on: the only suspect, if there is exactly one."""
    found = suspects(live)
    return found[0] if len(found) == 1 else None


def unsafe_link(path: str, target: str) -> bool:
    """Whether a symlink committed at ``path`` (repository-relative) pointing at ``target``
    leads out of the repository or into a ``.git`` directory: such work is not merged, since
    the next tool to write through the link would write into the user's files or git state."""
    if not target or target.startswith("/") or "\0" in target:
        return True
    parts: list[str] = []
    for part in [*path.split("/")[:-1], *target.split("/")]:
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return True
            parts.pop()
        else:
            parts.append(part)
    return any(part.lower() == ".git" for part in parts)
