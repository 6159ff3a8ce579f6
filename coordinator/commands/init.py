"""``coordinator init``: a starter config and spec, never overwriting anything."""

from __future__ import annotations

from pathlib import Path

from coordinator.io.gitrepo import GitRepo
from coordinator.io.worktrees import ensure_excluded

STARTER_CONFIG = """\
# worktree-coordinator configuration. Every key is optional; these are the defaults.
specs = "specs"                      # directory of specs (searched recursively)
worktrees = "worktrees"              # where task worktrees go, inside the repo (git-ignored)
target = "coordinator/integration"   # the branch finished tasks merge into
instances = 3                        # global cap on agents running at once

# The built-in demo agent needs no LLM: it applies fenced ```write PATH``` blocks of the spec.
[agents.demo]
command = ["{python}", "-m", "coordinator.demo_agent", "{spec}"]
timeout = "10m"

# A real coding agent: a ready profile ("claude-code", "codex", "aider", "gemini-cli"),
# or your own argv as command = [...] (see README, "Agent profiles"):
# [agents.claude]
# profile = "claude-code"
# instances = 2
# timeout = "30m"
"""

STARTER_SPEC = """\
---
agent: demo
files: [hello.txt]
estimate: 2s
---
# Say hello

Create `hello.txt` with a greeting.

```write hello.txt
Hello from worktree-coordinator.
```
"""


def init_project(path: Path) -> list[str]:
    """Create what is missing and return one line per action, for the CLI to print."""
    actions: list[str] = []
    with GitRepo.discover(path) as repo:
        config = repo.root / "coordinator.toml"
        if config.exists():
            actions.append("kept existing coordinator.toml")
        else:
            config.write_text(STARTER_CONFIG, encoding="utf-8")
            actions.append("wrote coordinator.toml")
        spec = repo.root / "specs" / "example.md"
        if spec.exists():
            actions.append("kept existing specs/example.md")
        else:
            spec.parent.mkdir(parents=True, exist_ok=True)
            spec.write_text(STARTER_SPEC, encoding="utf-8")
            actions.append("wrote specs/example.md")
        ensure_excluded(repo, "worktrees")
        actions.append("worktrees/ is excluded in .git/info/exclude")
    return actions
