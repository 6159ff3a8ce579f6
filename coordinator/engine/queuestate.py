"""The merge queue made visible: the loop publishes its state for ``status`` and the live view.

After every decision the loop builds the queue's document (``core.queueview``) from the round
in flight, the queue's memory and the jobs running, and writes it to the store (meta key
``queue``, with the run id) when it changed, so ``coordinator status --json`` in another
terminal sees what waits, what is gated, on top of what, and which batch is bisected.
"""

from __future__ import annotations

from typing import Any

from coordinator.core.queueview import QUEUE_KEY, RoundState, queue_document
from coordinator.engine.context import RunContext
from coordinator.engine.jobs import MERGE
from coordinator.engine.resolving import RESOLVE


def document(ctx: RunContext) -> dict[str, Any]:
    """The queue as it is now (loop thread)."""
    current = ctx.merge_round
    round_ = None
    if current is not None:
        results = {i: reason is None for i, reason in current.results.items()}
        gated = current.gates if current.old else None
        round_ = RoundState(current.groups, gated, results, current.probe)
    running = ctx.jobs.running.items()
    gate = ctx.config.merge.verify is not None
    q = ctx.queue
    return queue_document(
        parallel=q.parallel, batch=q.batch, gate=gate, waiting=ctx.book.merge_order(),
        round_=round_, bisecting=q.bisecting,
        merging=[] if gate else [t for t, kind in running if kind == MERGE],
        resolving=[t for t, kind in running if kind == RESOLVE],
        counts={"rounds": q.rounds, "gate_runs": q.gate_runs, "probes": q.probes},
    )  # fmt: skip


def publish(ctx: RunContext) -> dict[str, Any]:
    """Write the queue's document to the store when it changed; return it."""
    doc = document(ctx)
    if doc != ctx.queue_published:
        ctx.store.set_meta(QUEUE_KEY, {"run_id": ctx.run_id, **doc})
        ctx.queue_published = doc
    return doc
