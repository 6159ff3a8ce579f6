"""Reading token counts and cost from what coding-agent CLIs print, one pure parser per CLI.

The agent's output is its log; each parser gets the log's text and returns what it could read
(``None`` when the CLI printed nothing usable, e.g. it was killed before its final report).
Only what each CLI really prints is read (checked against their documentation, 2026-12):

* Claude Code ``-p --output-format json`` ends with one JSON object with ``total_cost_usd`` and
  ``usage`` (``input_tokens``, ``output_tokens``, ``cache_creation_input_tokens``,
  ``cache_read_input_tokens``); ``stream-json`` ends with the same as ``"type": "result"``.
* Codex ``exec --json`` prints JSON lines; every ``turn.completed`` carries that turn's
  ``usage`` (``input_tokens``, ``cached_input_tokens``, ``output_tokens``). No cost.
* Gemini CLI ``--output-format json`` prints one object whose ``stats.models.<model>.tokens``
  has ``prompt`` and ``candidates`` (newer versions also ``stats.inputTokens`` and
  ``stats.outputTokens``). No cost.
* Aider prints ``Tokens: 2.1k sent, 120 received. Cost: $0.01 message, $0.02 session.`` after
  each message.

Input tokens include cached ones wherever the CLI reports them apart (what the model read).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, Literal

from coordinator.core.usage import Usage

UsageFormat = Literal["claude-code", "codex", "gemini-cli", "aider"]
MAX_OBJECTS = 50  # JSON objects tried from the end of a log before giving up


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _objects_from_end(text: str) -> Iterator[dict[str, Any]]:
    """JSON objects that start at the beginning of a line, the last one first.

    A CLI's report may be one line or pretty-printed over many, and other output (a warning on
    stderr, a setup's output) may come before or after it.
    """
    decoder = json.JSONDecoder()
    starts = [m.start() for m in re.finditer(r"(?m)^[ \t]*\{", text)]
    for start in reversed(starts[-MAX_OBJECTS:]):
        try:
            value, _ = decoder.raw_decode(text, text.index("{", start))
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def claude_code(text: str) -> Usage | None:
    for data in _objects_from_end(text):
        if data.get("type") not in (None, "result") or (
            "total_cost_usd" not in data and "usage" not in data
        ):
            continue
        usage = data.get("usage") if isinstance(data.get("usage"), Mapping) else {}
        assert isinstance(usage, Mapping)
        read = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        tokens_in = sum(_int(usage.get(key)) for key in read) if usage else None
        tokens_out = _int(usage.get("output_tokens")) if "output_tokens" in usage else None
        cost = data.get("total_cost_usd")
        cost_usd = float(cost) if isinstance(cost, int | float) and cost >= 0 else None
        return Usage(tokens_in, tokens_out, cost_usd)
    return None


def codex(text: str) -> Usage | None:
    tokens_in = tokens_out = 0
    seen = False
    for line in text.splitlines():
        if "turn.completed" not in line:
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if not isinstance(data, dict) or data.get("type") != "turn.completed":
            continue
        usage = data.get("usage")
        if isinstance(usage, Mapping):
            seen = True
            tokens_in += _int(usage.get("input_tokens"))
            tokens_out += _int(usage.get("output_tokens"))
    return Usage(tokens_in, tokens_out) if seen else None


def gemini_cli(text: str) -> Usage | None:
    for data in _objects_from_end(text):
        stats = data.get("stats")
        if not isinstance(stats, Mapping):
            continue
        models = stats.get("models")
        if isinstance(models, Mapping) and models:
            tokens: list[Mapping[str, Any]] = [
                m["tokens"] for m in models.values()
                if isinstance(m, Mapping) and isinstance(m.get("tokens"), Mapping)
            ]  # fmt: skip
            if tokens:
                return Usage(sum(_int(t.get("prompt")) for t in tokens),
                             sum(_int(t.get("candidates")) for t in tokens))  # fmt: skip
        if "inputTokens" in stats or "outputTokens" in stats:
            return Usage(_int(stats.get("inputTokens")), _int(stats.get("outputTokens")))
    return None


_AIDER_TOKENS = re.compile(r"^Tokens: (?P<body>.*)$", re.MULTILINE)
_AIDER_COUNT = r"(?P<n>\d+(?:\.\d+)?)(?P<unit>[kKmM]?)"
_AIDER_SENT = re.compile(_AIDER_COUNT + r" sent")
_AIDER_RECEIVED = re.compile(_AIDER_COUNT + r" received")
_AIDER_SESSION = re.compile(r"\$(?P<cost>\d+(?:\.\d+)?) session")


def _count(match: re.Match[str] | None) -> int:
    if match is None:
        return 0
    scale = {"": 1, "k": 1000, "m": 1_000_000}[match.group("unit").lower()]
    return round(float(match.group("n")) * scale)


def aider(text: str) -> Usage | None:
    """Sent and received summed over messages; the cost is the last line's session total."""
    tokens_in = tokens_out = 0
    cost: float | None = None
    seen = False
    for match in _AIDER_TOKENS.finditer(text):
        body = match.group("body")
        seen = True
        tokens_in += _count(_AIDER_SENT.search(body))
        tokens_out += _count(_AIDER_RECEIVED.search(body))
        if session := _AIDER_SESSION.search(body):
            cost = float(session.group("cost"))
    return Usage(tokens_in, tokens_out, cost) if seen else None


READERS: Final[dict[str, Callable[[str], Usage | None]]] = {
    "claude-code": claude_code,
    "codex": codex,
    "gemini-cli": gemini_cli,
    "aider": aider,
}


def read_usage(fmt: str | None, text: str) -> Usage | None:
    """What the agent's output says it used, read the way ``fmt`` prints it."""
    reader = READERS.get(fmt or "")
    return reader(text) if reader is not None else None
