"""The environment of every git command: clean of what a hook or a parent git leaks.

Git hooks export ``GIT_DIR``, ``GIT_WORK_TREE``, ``GIT_INDEX_FILE`` and friends. Inherited, they
would aim every command at the hook's repository and index, so ``git_env`` drops them (the rule
of pre-commit's ``no_git_env``) and the tool also works when started from a hook.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from coordinator.core.config import Identity

# pre-commit's no_git_env keep-list, plus variables only a user sets (never git, for a hook).
_KEEP_ENV = frozenset({
    "GIT_EXEC_PATH", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSL_CAINFO", "GIT_SSL_NO_VERIFY",
    "GIT_CONFIG_COUNT", "GIT_HTTP_PROXY_AUTHMETHOD", "GIT_ALLOW_PROTOCOL", "GIT_ASKPASS",
    "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
})  # fmt: skip
_KEEP_PREFIXES = ("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_", "GIT_TRACE")


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` without the ``GIT_*`` variables a hook or a parent git leaks, plus ``extra``.

    ``GIT_TERMINAL_PROMPT=0`` makes git fail instead of waiting for a password nobody types;
    ``GIT_OPTIONAL_LOCKS=0`` keeps ``status`` from taking ``index.lock`` just to refresh stat data.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") or key in _KEEP_ENV or key.startswith(_KEEP_PREFIXES)
    }
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    env.update(extra or {})
    return env


def identity_env(identity: Identity) -> dict[str, str]:
    """Author and committer for one command, without touching anyone's git config."""
    name, email = identity.name, identity.email
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}  # fmt: skip
