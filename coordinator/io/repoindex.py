"""Reading what the inferred footprint sources need from the repository, with a cache.

Placeholder: facts per blob (see ``symbols.extract``), read through ``GitRepo``.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from coordinator.core.symbols import MAX_TEXT, FileFacts, extract
from coordinator.io.gitrepo import GitRepo

HISTORY_DEPTH = 1000  # first-parent commits mined for co-changes


def facts_for(
    git: GitRepo, blobs: Mapping[str, str], cache: MutableMapping[str, FileFacts]
) -> dict[str, FileFacts]:
    """Facts of every file (path -> blob id), extracting only blobs not in ``cache``."""
    missing = sorted({b for b in blobs.values() if b not in cache})
    contents = git.read_blobs(missing, MAX_TEXT)
    by_blob = {b: p for p, b in blobs.items()}
    for blob in missing:
        data = contents.get(blob)
        text = data.decode("utf-8", "replace") if data is not None else ""
        cache[blob] = extract(by_blob[blob], text) if text else FileFacts()
    return {path: cache[blob] for path, blob in blobs.items()}
