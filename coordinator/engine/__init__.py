"""The run engine: the event loop (``loop``), its recorder, recovery, launch and stop parts.

``runner.run`` is the entry point that takes the lock, reconciles a dead run and drives the loop.
"""

from coordinator.engine.loop import Engine

__all__ = ["Engine"]
