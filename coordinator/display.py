"""Kept so the import path documented in the README (``from coordinator.display import
make_reporter``) keeps working; the code lives in ``coordinator.ui.display``."""

from coordinator.ui.display import Reporter, RunSummary, make_reporter

__all__ = ["Reporter", "RunSummary", "make_reporter"]
