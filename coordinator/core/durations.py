"""Durations as users write them: ``90s``, ``0.7s``, ``1.5m``, ``1h30m``, or bare seconds."""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_NUMBER = r"(?:\d+(?:\.\d+)?|\.\d+)"
_FULL = re.compile(rf"^(?:{_NUMBER}[hms])+$")
_PART = re.compile(rf"({_NUMBER})([hms])")
_BARE = re.compile(rf"^{_NUMBER}$")

DURATION_HELP = "write a duration like 90s, 0.7s, 1.5m, 1h30m or a number of seconds"


def parse_duration(value: object) -> float:
    """Return seconds, or raise ``ValueError`` whose text says what is accepted.

    Units must appear at most once and in h, m, s order, so ``1m1h`` is refused rather than
    silently read as 61 minutes.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; {DURATION_HELP}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if _BARE.match(text):
            seconds = float(text)
        elif _FULL.match(text):
            parts = _PART.findall(text)
            units = [unit for _, unit in parts]
            if len(set(units)) != len(units) or units != sorted(units, key="hms".index):
                raise ValueError(f"{value!r} is not a duration; {DURATION_HELP}")
            seconds = sum(float(num) * _UNIT_SECONDS[unit] for num, unit in parts)
        else:
            raise ValueError(f"{value!r} is not a duration; {DURATION_HELP}")
    else:
        raise ValueError(f"{value!r} is not a duration; {DURATION_HELP}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a duration; {DURATION_HELP}")
    return seconds


def format_duration(seconds: float) -> str:
    """Short human form used by ``plan`` and the summary: ``45s``, ``2m05s``, ``1h02m``."""
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 and seconds != int(seconds) else f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
