"""Ready agent commands for common coding-agent CLIs, so a config can say ``profile = "codex"``.

Each is the non-interactive way to hand that CLI one task and let it edit files on its own, with
the prompt passed as an argument or a file (never through a shell). Flags change between
versions of those tools; a profile is a starting point, and ``command`` replaces it entirely.

Where a CLI can report its token counts and cost in a machine-readable form, its profile asks
for it (``--output-format json``, ``--json``): the final report lands in the task's log, where
``coordinator.core.usagereaders`` reads it.
"""

from __future__ import annotations

from typing import Final, Literal

ProfileName = Literal["claude-code", "codex", "aider", "gemini-cli", "demo"]

PROFILES: Final[dict[str, tuple[str, ...]]] = {
    "claude-code": (
        "claude",
        "-p",
        "--dangerously-skip-permissions",
        "--output-format",
        "json",
        "{prompt}",
    ),
    "codex": ("codex", "exec", "--full-auto", "--json", "{prompt}"),
    "aider": ("aider", "--yes-always", "--message-file", "{prompt_file}"),
    "gemini-cli": ("gemini", "--yolo", "--output-format", "json", "-p", "{prompt}"),
    "demo": ("{python}", "-m", "coordinator.demo_agent", "{spec}"),
}
