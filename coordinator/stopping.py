"""Kept so the import path documented in the README (``from coordinator.stopping import
StopRequest``) keeps working; the code lives in ``coordinator.engine.stopping``."""

from coordinator.engine.stopping import StopRequest

__all__ = ["StopRequest"]
