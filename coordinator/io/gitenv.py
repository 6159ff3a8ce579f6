"""The environment of every git command: clean of what a hook or a parent git leaks, and with
every configuration key that would make git run a program set to a value that runs nothing.

Git hooks export ``GIT_DIR``, ``GIT_WORK_TREE``, ``GIT_INDEX_FILE`` and friends. Inherited, they
would aim every command at the hook's repository and index, so ``git_env`` drops them (the rule
of pre-commit's ``no_git_env``) and the tool also works when started from a hook.

Agents write to the repository's config, hooks and attributes (in ``worktree`` mode they share
them), so nothing the coordinator's own git commands do may depend on what those say about
programs to run. ``SAFE_CONFIG`` is git's configuration from the command line
(``GIT_CONFIG_COUNT``/``KEY_n``/``VALUE_n``, read after every config file, includes and
``includeIf`` included, so nothing an agent writes there can override it). The complete list of
keys git 2.39 runs programs from, and why each one is covered, is in the README (Security
model); ``tests/io/test_githarden.py`` plants each one and proves it no longer runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from coordinator.core.config import Identity

# A program path that cannot exist (nothing can be inside /dev/null): a key set to it names a
# program that fails to start instead of one an agent chose.
DISABLED = "/dev/null/coordinator-disabled"

SAFE_CONFIG: tuple[tuple[str, str], ...] = (
    ("core.hooksPath", "/dev/null"),  # every hook of githooks(5), reference-transaction included
    ("core.fsmonitor", "false"),  # an fsmonitor hook (a path) or the fsmonitor daemon
    ("core.pager", "cat"),  # (git also gets --no-pager, which covers pager.<cmd>)
    ("core.editor", ":"),  # ":" is git's own "do not start an editor"
    ("sequence.editor", ":"),
    ("core.askPass", ""),  # empty: no askpass program; GIT_TERMINAL_PROMPT=0 refuses to prompt
    ("credential.helper", ""),  # empty resets the helper list, url-specific helpers included
    ("core.sshCommand", DISABLED),
    ("core.gitProxy", DISABLED),
    ("protocol.allow", "never"),  # no transport at all: ssh, git://, http(s), ext::, file
    ("core.alternateRefsCommand", DISABLED),
    ("diff.external", DISABLED),  # (every diff also gets --no-ext-diff --no-textconv)
    ("interactive.diffFilter", DISABLED),
    ("gpg.program", DISABLED),
    ("gpg.openpgp.program", DISABLED),
    ("gpg.x509.program", DISABLED),
    ("gpg.ssh.program", DISABLED),
    ("gpg.ssh.defaultKeyCommand", DISABLED),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("tag.forceSignAnnotated", "false"),
    ("push.gpgSign", "false"),
    ("log.showSignature", "false"),
    ("merge.verifySignatures", "false"),
    ("gc.auto", "0"),  # no `gc --auto`, so no pre-auto-gc hook and no detached gc left behind
    ("maintenance.auto", "false"),
    ("merge.renormalize", "false"),  # a merge would run clean filters on both sides
    ("submodule.recurse", "false"),  # checkouts would run git inside submodules
    ("status.submoduleSummary", "false"),
    ("core.useReplaceRefs", "false"),  # refs/replace/* must not change what a commit holds
    ("color.ui", "false"),  # output is parsed, never shown raw
)

# pre-commit's no_git_env keep-list, plus variables only a user sets (never git, for a hook).
_KEEP_ENV = frozenset({
    "GIT_EXEC_PATH", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSL_CAINFO", "GIT_SSL_NO_VERIFY",
    "GIT_HTTP_PROXY_AUTHMETHOD", "GIT_ALLOW_PROTOCOL", "GIT_ASKPASS",
    "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
})  # fmt: skip
_KEEP_PREFIXES = ("GIT_TRACE",)
_COUNT = "GIT_CONFIG_COUNT"


def git_env(
    extra: Mapping[str, str] | None = None, config: Sequence[tuple[str, str]] = ()
) -> dict[str, str]:
    """``os.environ`` without the ``GIT_*`` variables a hook or a parent git leaks, plus
    ``SAFE_CONFIG`` and ``config`` (more keys for this command), plus ``extra``.

    ``GIT_TERMINAL_PROMPT=0`` makes git fail instead of waiting for a password nobody types;
    ``GIT_OPTIONAL_LOCKS=0`` keeps ``status`` from taking ``index.lock`` just to refresh stat
    data; ``GIT_NO_REPLACE_OBJECTS`` and an empty graft file keep what a commit holds what its
    object says. The user's own ``GIT_CONFIG_COUNT`` entries are kept, before ours.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") or key in _KEEP_ENV or key.startswith(_KEEP_PREFIXES)
    }
    pairs = [*_user_config(os.environ), *SAFE_CONFIG, *config]
    env[_COUNT] = str(len(pairs))
    for n, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{n}"] = key
        env[f"GIT_CONFIG_VALUE_{n}"] = value
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", GIT_NO_REPLACE_OBJECTS="1",
               GIT_GRAFT_FILE=DISABLED, GIT_EDITOR=":", GIT_SEQUENCE_EDITOR=":")  # fmt: skip
    env.update(extra or {})
    return env


def _user_config(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """The ``GIT_CONFIG_COUNT`` entries the user set (none when the count is not a number)."""
    count = environ.get(_COUNT, "")
    if not count.isdigit():
        return []
    pairs = []
    for n in range(int(count)):
        key = environ.get(f"GIT_CONFIG_KEY_{n}")
        if key:
            pairs.append((key, environ.get(f"GIT_CONFIG_VALUE_{n}", "")))
    return pairs


def identity_env(identity: Identity) -> dict[str, str]:
    """Author and committer for one command, without touching anyone's git config."""
    name, email = identity.name, identity.email
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}  # fmt: skip
