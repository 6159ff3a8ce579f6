"""The run engine: one event loop that decides, and jobs that do the long work.

``runner.run`` is the entry point: it takes the lock, reconciles a run that was cut off
(``recovery``) and drives the ``loop``. The loop's handlers live beside it, one module per
stage of a task: ``starting`` (admission, worktree job, agent launch via ``launch``),
``finishing`` (marker, exit, timeout; the settle job that stops the agent and collects its
work), ``merging`` (the merge lane and its gate), ``ending`` (keeping unmerged branches) and
``interrupts`` (Ctrl-C). ``book`` owns every task's state; ``recorder`` writes events and
timings; ``jobs`` runs work off the loop thread; ``context`` is what the handlers share.
"""

from coordinator.engine.loop import Engine

__all__ = ["Engine"]
