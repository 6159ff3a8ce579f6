"""Usage and cost: the marker's object, sums that keep "unknown" apart from zero, and one parser
per CLI, tested on output as each CLI prints it (samples after their documentation)."""

from __future__ import annotations

import json

import pytest

from coordinator.core.usage import (
    Resources,
    Usage,
    format_resources,
    format_usage,
    parse_usage,
    total_usage,
    usage_from_dict,
)
from coordinator.core.usagereaders import READERS, read_usage

CLAUDE_JSON = json.dumps(
    {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "duration_ms": 41210,
        "num_turns": 9,
        "result": "Added the login form and its tests.",
        "session_id": "4c1d2a3e-0000-4000-8000-1234567890ab",
        "total_cost_usd": 0.1873,
        "usage": {
            "input_tokens": 24,
            "cache_creation_input_tokens": 10120,
            "cache_read_input_tokens": 85511,
            "output_tokens": 2208,
            "server_tool_use": {"web_search_requests": 0},
        },
    }
)

CODEX_JSONL = "\n".join(
    json.dumps(e)
    for e in [
        {"type": "thread.started", "thread_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"},
        {"type": "turn.started"},
        {"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": "x"}},
        {"type": "turn.completed",
         "usage": {"input_tokens": 24763, "cached_input_tokens": 24448, "output_tokens": 122}},
        {"type": "turn.started"},
        {"type": "turn.completed",
         "usage": {"input_tokens": 1000, "cached_input_tokens": 0, "output_tokens": 78}},
    ]
)  # fmt: skip

GEMINI_JSON = json.dumps(
    {
        "response": "Done.",
        "stats": {
            "models": {
                "gemini-2.5-pro": {
                    "api": {"totalRequests": 2, "totalErrors": 0, "totalLatencyMs": 5053},
                    "tokens": {"prompt": 24939, "candidates": 20, "total": 25113,
                               "cached": 21263, "thoughts": 154, "tool": 0},
                },
                "gemini-2.5-flash": {
                    "tokens": {"prompt": 1000, "candidates": 80, "total": 1080},
                },
            },
            "tools": {"totalCalls": 1, "totalSuccess": 1},
        },
    },
    indent=2,
)  # fmt: skip

AIDER_OUTPUT = """\
Aider v0.86.1
Main model: anthropic/claude-sonnet-4 with diff edit format
Applied edit to src/login.py
Tokens: 2.1k sent, 120 received. Cost: $0.0081 message, $0.0081 session.
Commit 1a2b3c4 feat: add login
Tokens: 12k sent, 1.2k cache write, 3.4k cache hit, 1.5k received. Cost: $0.05 message, $0.0581 session.
"""  # noqa: E501 - aider prints it on one line


def test_claude_code_reads_cost_and_tokens_with_cached_ones_from_its_final_object() -> None:
    log = "[coordinator] ---- setup: npm ci ----\nadded 3 packages\n" + CLAUDE_JSON + "\n"
    assert read_usage("claude-code", log) == Usage(24 + 10120 + 85511, 2208, 0.1873)


def test_claude_code_stream_json_takes_the_result_line() -> None:
    lines = [json.dumps({"type": "assistant", "message": {"usage": {"output_tokens": 5}}}),
             CLAUDE_JSON]  # fmt: skip
    assert read_usage("claude-code", "\n".join(lines)) == Usage(95655, 2208, 0.1873)


def test_codex_sums_every_turn() -> None:
    assert read_usage("codex", CODEX_JSONL + "\nsome stderr line\n") == Usage(25763, 200)


def test_gemini_sums_every_model_from_a_pretty_printed_object() -> None:
    assert read_usage("gemini-cli", "Loaded cached credentials.\n" + GEMINI_JSON) == Usage(
        25939, 100
    )


def test_gemini_newer_flat_stats() -> None:
    flat = json.dumps({"response": "ok", "stats": {"inputTokens": 12, "outputTokens": 8}})
    assert read_usage("gemini-cli", flat) == Usage(12, 8)


def test_aider_sums_sent_and_received_and_takes_the_last_session_cost() -> None:
    assert read_usage("aider", AIDER_OUTPUT) == Usage(14100, 1620, 0.0581)


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_output_without_a_report_reads_as_unknown(fmt: str) -> None:
    assert read_usage(fmt, "Traceback (most recent call last):\n  killed\n{not json") is None
    assert read_usage(fmt, "") is None


def test_no_format_reads_nothing() -> None:
    assert read_usage(None, CLAUDE_JSON) is None


def test_a_markers_usage_may_be_any_subset_and_is_checked() -> None:
    assert parse_usage({"cost_usd": 0.5}) == Usage(cost_usd=0.5)
    assert parse_usage({"input_tokens": 3, "output_tokens": 4, "extra": "kept out"}) == Usage(3, 4)
    for bad in ({"input_tokens": -1}, {"output_tokens": 1.5}, {"cost_usd": "1"},
                {"input_tokens": True}, {"cost_usd": float("inf")}, [1]):  # fmt: skip
        with pytest.raises(ValueError, match="usage"):
            parse_usage(bad)


def test_sums_keep_unknown_apart_from_zero() -> None:
    assert total_usage([]) == Usage()
    assert total_usage([Usage(cost_usd=0.25), Usage(10, 5)]) == Usage(10, 5, 0.25)
    assert (Usage(1) + Usage(2, 3)).as_dict() == {
        "input_tokens": 3, "output_tokens": 3, "cost_usd": None
    }  # fmt: skip
    assert Usage(1, 2, 0.5).overlay(Usage(cost_usd=0.75)) == Usage(1, 2, 0.75)
    assert usage_from_dict({"input_tokens": 5, "output_tokens": None}) == Usage(5)
    assert usage_from_dict(None) == Usage() and usage_from_dict({"cost_usd": "x"}) == Usage()
    assert Resources(100, 1.0).combine(Resources(50, 2.0)) == Resources(100, 3.0)
    assert Resources().combine(Resources(None, 1.5)) == Resources(None, 1.5)


def test_formats_for_people() -> None:
    assert format_usage(Usage(12345, 1200, 0.04)) == "12.3k in, 1.2k out, $0.040"
    assert format_usage(Usage()) == ""
    assert format_resources(Resources(240 * 2**20, 3.24)) == "peak 240 MiB, cpu 3.2s"
