"""``coordinator review TASK``: a task asked for that did not land, and why.

``review`` reads what landed from git. A task named on its command line that is not on the
target gets a block of its own from the store: its state and reason in its latest run, where
its work is kept, and, when its merge gate refused it, the tail of the gate's output (from the
event that ended it: a task failed inside a batch may have no gate log of its own), and the
``<task>.verify.log`` of that run when there is one. A refused merge is reviewed where the
landed ones are.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from coordinator.commands.review import Landed
from coordinator.errors import CoordinatorError
from coordinator.io.runfiles import RunFiles, state_dir, store_path
from coordinator.io.store import Store

GATE_TAIL = 15  # lines of the gate's output shown


@dataclass(frozen=True)
class Unlanded:
    task_id: str
    state: str  # "never-run" when no run has the task
    reason: str
    run_id: str
    branch: str
    log: str
    gate_log: str  # the gate's log of that run, "" when the gate never ran on it
    gate_tail: tuple[str, ...]


def unlanded(git_dir: Path, asked: Sequence[str], landed: Collection[str]) -> list[Unlanded]:
    """The tasks in ``asked`` that are not in ``landed``, as the store last saw them."""
    missing = [t for t in dict.fromkeys(asked) if t not in landed]
    if not missing:
        return []
    records = {}
    ended: dict[str, str] = {}  # task -> the message of the event that ended it unmerged
    db = store_path(git_dir)
    if db.exists():
        try:
            with Store.open_readonly(db) as store:
                records = store.latest_task_records()
                for run_id in {records[t].run_id for t in missing if t in records}:
                    for event in store.events(run_id):
                        if event.task_id in missing and event.kind in ("failed", "conflict"):
                            ended[event.task_id] = str(event.data.get("message") or "")
        except CoordinatorError:
            records = {}
    out = []
    for task_id in missing:
        record = records.get(task_id)
        if record is None:
            out.append(Unlanded(task_id, "never-run", "", "", "", "", "", ()))
            continue
        logs = RunFiles(state_dir(git_dir) / "runs" / record.run_id).logs
        gate = logs / f"{task_id}.verify.log"
        message = ended.get(task_id, "").rstrip("\n").splitlines()
        tail = tuple(message[1:][-GATE_TAIL:])  # the first line is the reason itself
        out.append(
            Unlanded(
                task_id, record.state, record.reason or "", record.run_id, record.branch or "",
                record.log or "", str(gate) if gate.is_file() else "", tail,
            )
        )  # fmt: skip
    return out


def with_unlanded(
    text: str, git_dir: Path, asked: Sequence[str], items: Sequence[Landed], *, markdown: bool
) -> str:
    """``review``'s output, followed by a block for each task asked for that did not land."""
    missing = unlanded(git_dir, asked, {item.task_id for item in items})
    if not missing:
        return text
    block = "\n".join(render_unlanded(missing)).rstrip("\n")
    return text.rstrip("\n") + "\n\n" + (f"```\n{block}\n```\n" if markdown else block)


def render_unlanded(items: Sequence[Unlanded]) -> list[str]:
    """Text lines, one block per task, after the landed ones."""
    lines: list[str] = []
    for item in items:
        if item.state == "never-run":
            lines += [f"{item.task_id}: not landed: no run has it", ""]
            continue
        why = f" ({item.reason.strip().splitlines()[0]})" if item.reason.strip() else ""
        lines.append(f"{item.task_id}: not landed: {item.state}{why} in run {item.run_id}")
        if item.branch:
            lines.append(f"    its work: {item.branch}   (git log {item.branch})")
        if item.log:
            lines.append(f"    log: {item.log}")
        if item.gate_tail:
            lines.append("    output tail:")
            lines.extend(f"      {line}" for line in item.gate_tail)
        if item.gate_log:
            lines.append(f"    merge gate log: {item.gate_log}")
        lines.append("")
    return lines
