"""``[predict]``: the inferred footprint sources of ``footprint = "infer"`` and their thresholds."""

from __future__ import annotations

from dataclasses import replace

from pydantic import Field

from coordinator.core.configtypes import Strict
from coordinator.core.inference import DEFAULT_SETTINGS, Settings


class PredictConfig(Strict):
    """The inferred footprint sources of ``footprint = "infer"`` and their thresholds."""

    symbols: bool = True  # [S] files defining the names the spec uses
    retrieval: bool = True  # [R] files the spec's words rank best (BM25)
    history: bool = True  # [H] files that change with the predicted ones, in git and past runs
    retrieval_top: int = Field(default=DEFAULT_SETTINGS.retrieval_top, ge=1, le=100)
    history_depth: int = Field(default=1000, ge=0, le=100_000)  # first-parent commits mined
    companions: int = Field(default=DEFAULT_SETTINGS.companions, ge=0, le=100)  # [H] tests/docs
    min_confidence: float = Field(default=DEFAULT_SETTINGS.min_confidence, ge=0, le=1)
    max_inferred: int = Field(default=DEFAULT_SETTINGS.max_inferred, ge=0, le=1000)

    def settings(self) -> Settings:
        return replace(
            DEFAULT_SETTINGS,
            symbols=self.symbols,
            retrieval=self.retrieval,
            history=self.history,
            retrieval_top=self.retrieval_top,
            companions=self.companions,
            min_confidence=self.min_confidence,
            max_inferred=self.max_inferred,
        )
