"""Ready agent commands for common coding-agent CLIs, so a config can say ``profile = "codex"``.

Each is the non-interactive way to hand that CLI one task and let it edit files on its own, with
the prompt passed as an argument or a file (never through a shell). Flags change between
versions of those tools; a profile is a starting point, and ``command`` replaces it entirely.
"""

from __future__ import annotations

from typing import Final, Literal

ProfileName = Literal["claude-code", "codex", "aider", "gemini-cli", "demo"]

PROFILES: Final[dict[str, tuple[str, ...]]] = {
    "claude-code": ("claude", "-p", "--dangerously-skip-permissions", "{prompt}"),
    "codex": ("codex", "exec", "--full-auto", "{prompt}"),
    "aider": ("aider", "--yes-always", "--message-file", "{prompt_file}"),
    "gemini-cli": ("gemini", "--yolo", "-p", "{prompt}"),
    "demo": ("{python}", "-m", "coordinator.demo_agent", "{spec}"),
}
