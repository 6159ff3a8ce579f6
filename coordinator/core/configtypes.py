"""Value types shared by the config tables (``coordinator.core.config`` and
``coordinator.core.configtables``): durations, argv lists and the strict table base.

They live apart so that the tables can be split over modules without importing each other.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from coordinator.core.fields import bounded_duration

# Capped at a year: a timeout becomes a timer deadline, and ``1e300`` seconds overflows it mid-run.
Seconds = Annotated[float, BeforeValidator(bounded_duration)]


def _nonzero(seconds: float) -> float:
    if seconds == 0:
        raise ValueError("zero would stop it at once")
    return seconds


Timeout = Annotated[Seconds, AfterValidator(_nonzero)]


def _argv_list(value: object) -> object:
    """An argv list whose program is named and that a process can take (no NUL anywhere)."""
    if isinstance(value, list):
        if value and value[0] == "":
            raise ValueError("the first element (the program) is empty")
        if any(isinstance(item, str) and "\0" in item for item in value):
            raise ValueError("an argument contains a NUL character")
    return value


Argv = Annotated[list[str], BeforeValidator(_argv_list)]


class Strict(BaseModel):
    """A config table: unknown keys are errors, and a parsed table never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
