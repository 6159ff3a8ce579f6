"""What the merge queue looks like from outside: ``status --json``'s ``queue`` object and the
live view's notes, built from the engine's state in one place so the two always agree.

A task's own ``state`` says where it is (``merging``, ``verifying``, ``resolving``); this says
what only the queue knows: the order of the entries waiting, which groups the round in flight
checks (the first on the target, each next one on top of the ones before it: *speculative*),
how far each group's gate got, and the batch being bisected. Pure: plain values in, plain
values out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

QUEUE_KEY = "queue"  # the store's meta key: the last run's queue, with its ``run_id``

# A group's gate: its chain is being built, its gate runs, passed or failed; or, while the
# target moves over the passed groups, landing.
BUILDING, RUNNING, PASSED, FAILED = "building", "running", "passed", "failed"


@dataclass(frozen=True)
class RoundState:
    """The round in flight: its groups, the ones that were gated (an entry that conflicted
    while the chain was built leaves its group), and the gate results so far (index into
    ``gated`` -> passed)."""

    groups: Sequence[Sequence[str]]
    gated: Sequence[Sequence[str]] | None  # None: the chain is still being built
    results: Mapping[int, bool]
    probe: bool  # the round is a bisection probe


def queue_document(
    *,
    parallel: int,
    batch: int,
    gate: bool,
    waiting: Sequence[str],
    round_: RoundState | None,
    bisecting: Sequence[str],
    merging: Sequence[str],
    resolving: Sequence[str],
    counts: Mapping[str, int],
) -> dict[str, Any]:
    """The ``queue`` object of ``status --json`` (keys documented in the README).

    ``waiting`` is every entry waiting to merge in dependency order (those in the round too);
    ``merging`` the tasks whose merge job runs (without a gate: the merge lane's one task).
    """
    in_round = {t for g in round_.groups for t in g} if round_ else set()
    groups: list[dict[str, Any]] = []
    phase = "idle"
    if round_ is not None:
        phase = "building" if round_.gated is None else "gating"
        gated = [tuple(g) for g in round_.gated or ()]
        if gated and len(round_.results) == len(gated):
            phase = "landing"
        for index, group in enumerate(round_.groups):
            kept = tuple(t for t in group if round_.gated is None or any(t in g for g in gated))
            if not kept:
                continue
            gate_state = BUILDING
            if kept in gated:
                at = gated.index(kept)
                gate_state = RUNNING
                if at in round_.results:
                    gate_state = PASSED if round_.results[at] else FAILED
            groups.append(
                {"tasks": list(kept), "speculative": index > 0, "gate": gate_state}
            )
    elif merging:
        phase = "merging"
    if resolving and phase == "idle":
        phase = "resolving"
    return {
        "gate": gate,
        "parallel": parallel,
        "batch": batch,
        "phase": phase,
        "waiting": [t for t in waiting if t not in in_round and t not in merging],
        "round": groups,
        "probe": bool(round_ and round_.probe),
        "bisecting": list(bisecting),
        "merging": list(merging),
        "resolving": list(resolving),
        "rounds": counts.get("rounds", 0),
        "gate_runs": counts.get("gate_runs", 0),
        "probes": counts.get("probes", 0),
    }


def empty_document() -> dict[str, Any]:
    """The ``queue`` object of a run that recorded none (a finished run's queue is empty)."""
    return queue_document(
        parallel=1, batch=1, gate=False, waiting=(), round_=None, bisecting=(), merging=(),
        resolving=(), counts={},
    )  # fmt: skip


def settled(document: Mapping[str, Any]) -> dict[str, Any]:
    """A finished run's queue: nothing waits or runs any more; its settings and counts stay."""
    out = dict(document)
    out.update(phase="idle", waiting=[], round=[], probe=False, bisecting=[], merging=[],
               resolving=[])  # fmt: skip
    return out


def queue_notes(document: Mapping[str, Any]) -> dict[str, str]:
    """The live view's note per task the queue holds: where it is in the queue, and why."""
    notes: dict[str, str] = {}
    for n, task_id in enumerate(document["waiting"], 1):
        notes[task_id] = f"queued, {_ordinal(n)} in line"
    bisecting = "+".join(document["bisecting"])
    groups = document["round"]
    for index, group in enumerate(groups):
        members = "+".join(group["tasks"])
        if document["probe"]:
            text = f"bisecting {bisecting}: probe {members}, gate {group['gate']}"
        else:
            where = f"on top of {'+'.join(groups[index - 1]['tasks'])}" if index else "on target"
            kind = "speculative " if group["speculative"] else ""
            size = f"batch {members}, " if len(group["tasks"]) > 1 else ""
            text = f"{kind}gate {index + 1} of {len(groups)} ({size}{where}): {group['gate']}"
        for task_id in group["tasks"]:
            notes[task_id] = text
    for task_id in document["merging"]:
        notes[task_id] = "merging now"
    return notes


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
