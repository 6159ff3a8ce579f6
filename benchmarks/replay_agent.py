"""The scripted agent of ``scripts/bench replay``: it makes one real change of a history again.

Its prompt holds ``@replay PARENT COMMIT SLEEP UNION_JSON``. After SLEEP seconds (every task
takes as long, so the benchmark measures scheduling, not patch sizes) it writes the change into
its worktree: a file outside the ``union`` globs gets the commit's version exactly (its earlier
changes have landed: the replay orders every non-shared file's changes by dependencies); a
``union`` file (a changelog) gets the change's own edits placed after the line they followed,
as an agent adding its entry would, since other changes' entries may not have landed yet.
"""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
import time
from pathlib import Path

from coordinator.core.globs import glob_match


def _git(*args: str) -> bytes:
    return subprocess.run(["git", *args], check=True, capture_output=True).stdout


def _lines(commit: str, path: str) -> list[str]:
    try:
        return _git("show", f"{commit}:{path}").decode("utf-8", "replace").splitlines(True)
    except subprocess.CalledProcessError:
        return []


def place_edits(current: list[str], before: list[str], after: list[str]) -> list[str]:
    """``before`` -> ``after``'s edits made on ``current``, each anchored on the line before it."""
    out = list(current)
    ops = difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(ops):
        if tag == "equal":
            continue
        anchor = before[i1 - 1] if i1 > 0 else None
        at = out.index(anchor) + 1 if anchor in out else min(i1, len(out))
        removed = before[i1:i2]
        if out[at : at + len(removed)] == removed:
            del out[at : at + len(removed)]
        out[at:at] = after[j1:j2]
    return out


def main(prompt: str) -> int:
    line = next(x for x in Path(prompt).read_text().splitlines() if x.startswith("@replay "))
    _, parent, commit, sleep, union_json = line.split(" ", 4)
    union: list[str] = json.loads(union_json)
    time.sleep(float(sleep))
    listing = _git("diff", "--no-renames", "--name-status", "-z", parent, commit).split(b"\0")
    for status, name in zip(listing[0::2], listing[1::2], strict=False):
        path = name.decode()
        target = Path(path)
        if status == b"D":
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if any(glob_match(g, path) for g in union) and target.exists():
            current = target.read_text(encoding="utf-8", errors="replace").splitlines(True)
            edited = place_edits(current, _lines(parent, path), _lines(commit, path))
            target.write_text("".join(edited), encoding="utf-8")
        else:
            target.write_bytes(_git("show", f"{commit}:{path}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
