"""What an agent's work cost: tokens and dollars (``Usage``), memory and CPU (``Resources``).

Both are partial by nature: an agent may report only its cost, a CLI only its tokens, and a
process tree that lived a few milliseconds may never have been sampled. So every field may be
unknown (``None``), sums keep "unknown" apart from zero, and the JSON shapes always carry every
key (``null`` when unknown) so scripts can rely on them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

USAGE_KEYS = ("input_tokens", "output_tokens", "cost_usd")
RESOURCE_KEYS = ("peak_rss_bytes", "cpu_seconds")


def _add(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else a + b


@dataclass(frozen=True)
class Usage:
    """Tokens read and written by the model, and what that cost in US dollars."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None

    @property
    def known(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))

    @property
    def tokens(self) -> int | None:
        """Input and output together, or None when neither is known."""
        total = _add(self.input_tokens, self.output_tokens)
        return None if total is None else int(total)

    def __add__(self, other: Usage) -> Usage:
        tokens_in = _add(self.input_tokens, other.input_tokens)
        tokens_out = _add(self.output_tokens, other.output_tokens)
        return Usage(
            None if tokens_in is None else int(tokens_in),
            None if tokens_out is None else int(tokens_out),
            _add(self.cost_usd, other.cost_usd),
        )

    def overlay(self, other: Usage) -> Usage:
        """``other``'s known fields over these (a marker's word wins over a log's reading)."""
        known = {f.name: getattr(other, f.name) for f in fields(other)}
        return replace(self, **{k: v for k, v in known.items() if v is not None})

    def as_dict(self) -> dict[str, int | float | None]:
        cost = None if self.cost_usd is None else round(self.cost_usd, 6)
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cost_usd": cost}  # fmt: skip


def total_usage(items: Iterable[Usage]) -> Usage:
    total = Usage()
    for item in items:
        total = total + item
    return total


def parse_usage(value: object) -> Usage:
    """A marker's ``"usage"`` object: any subset of the three keys; raises ``ValueError``.

    Counts must be whole numbers and the cost a number, none negative or infinite; other keys
    are ignored (CLIs report more than these three, and an agent may pass them on as they are).
    """
    if not isinstance(value, Mapping):
        raise ValueError(f'"usage" must be a JSON object, not {type(value).__name__}')
    out: dict[str, Any] = {}
    for key in ("input_tokens", "output_tokens"):
        item = value.get(key)
        if item is None:
            continue
        if isinstance(item, bool) or not isinstance(item, int) or item < 0:
            raise ValueError(f'"usage.{key}" must be a whole number of 0 or more, not {item!r}')
        out[key] = item
    cost = value.get("cost_usd")
    if cost is not None:
        if isinstance(cost, bool) or not isinstance(cost, int | float) or not math.isfinite(cost):
            raise ValueError(f'"usage.cost_usd" must be a number, not {cost!r}')
        if cost < 0:
            raise ValueError(f'"usage.cost_usd" must be 0 or more, not {cost!r}')
        out["cost_usd"] = float(cost)
    return Usage(**out)


def usage_from_dict(value: Mapping[str, Any] | None) -> Usage:
    """Back from ``as_dict`` (the store's JSON); anything unreadable is unknown."""
    try:
        return parse_usage(value or {})
    except ValueError:
        return Usage()


@dataclass(frozen=True)
class Resources:
    """What an agent's process tree used: its peak memory (RSS summed over the tree at one
    moment) and its CPU time (user + system, the tree's waited-for children included)."""

    peak_rss_bytes: int | None = None
    cpu_seconds: float | None = None

    def combine(self, other: Resources) -> Resources:
        """Several attempts (or tasks): the highest peak, the CPU time added up."""
        peaks = [p for p in (self.peak_rss_bytes, other.peak_rss_bytes) if p is not None]
        return Resources(max(peaks) if peaks else None, _add(self.cpu_seconds, other.cpu_seconds))

    def as_dict(self) -> dict[str, int | float | None]:
        # To the millisecond, rounded up: what was used is never shown as less.
        cpu = None if self.cpu_seconds is None else math.ceil(self.cpu_seconds * 1000) / 1000
        return {"peak_rss_bytes": self.peak_rss_bytes, "cpu_seconds": cpu}


def resources_from_dict(value: Mapping[str, Any] | None) -> Resources:
    data = value or {}
    peak, cpu = data.get("peak_rss_bytes"), data.get("cpu_seconds")
    return Resources(
        peak if isinstance(peak, int) and not isinstance(peak, bool) else None,
        float(cpu) if isinstance(cpu, int | float) and not isinstance(cpu, bool) else None,
    )


def format_usage(usage: Usage) -> str:
    """``"12.3k in, 1.2k out, $0.042"``; ``""`` when nothing is known."""
    parts = []
    if usage.input_tokens is not None:
        parts.append(f"{format_count(usage.input_tokens)} in")
    if usage.output_tokens is not None:
        parts.append(f"{format_count(usage.output_tokens)} out")
    if usage.cost_usd is not None:
        parts.append(f"${usage.cost_usd:.3f}" if usage.cost_usd < 10 else f"${usage.cost_usd:.2f}")
    return ", ".join(parts)


def format_resources(res: Resources) -> str:
    """``"peak 240 MiB, cpu 3.2s"``; ``""`` when nothing is known."""
    parts = []
    if res.peak_rss_bytes is not None:
        parts.append(f"peak {format_bytes(res.peak_rss_bytes)}")
    if res.cpu_seconds is not None:
        parts.append(f"cpu {res.cpu_seconds:.1f}s")
    return ", ".join(parts)


def format_count(n: int) -> str:
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.2f}M"


def format_bytes(n: int) -> str:
    if n < 1024**2:
        return f"{n / 1024:.0f} KiB"
    if n < 1024**3:
        return f"{n / 1024**2:.0f} MiB"
    return f"{n / 1024**3:.2f} GiB"
