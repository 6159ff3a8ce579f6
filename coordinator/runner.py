"""Kept so the import path documented in the README (``from coordinator.runner import
RunRequest, run``) keeps working; the code lives in ``coordinator.engine.runner``."""

from coordinator.engine.runner import RunRequest, RunResult, run

__all__ = ["RunRequest", "RunResult", "run"]
