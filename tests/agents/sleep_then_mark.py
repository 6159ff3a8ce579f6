#!/usr/bin/env python3
"""Fake agent: optionally edit files, sleep, write the completion marker, exit.

Options (also from $FAKE_AGENT_ARGS and ``FAKE:`` lines of the prompt file, see _fake.py):
  --sleep S            seconds to sleep before writing the marker (default 0)
  --write REL=TEXT     write TEXT to REL (relative to the cwd, i.e. the worktree); repeatable
  --append REL=TEXT    append TEXT plus a newline to REL; repeatable
  --marker PATH        marker path (default $COORDINATOR_MARKER)
  --status S           "done" (default) or "failed" (anything else makes an invalid marker)
  --summary TEXT       marker summary
  --raw TEXT           write TEXT verbatim as the marker (e.g. not JSON)
  --empty              write an empty marker (means done)
  --no-marker          write no marker
  --direct             write the marker in place instead of temp file + os.replace
  --exit N             exit code (default 0)
  --say TEXT           print TEXT to stdout first (shows up in the task log)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _fake


def main() -> int:
    parser = argparse.ArgumentParser(prog="sleep_then_mark")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--write", action="append", default=[])
    parser.add_argument("--append", action="append", default=[])
    parser.add_argument("--exit", type=int, default=0)
    parser.add_argument("--say")
    _fake.add_marker_options(parser)
    opts = _fake.parse(parser)
    if opts.say is not None:
        print(opts.say, flush=True)
    for item in opts.write:
        rel, _, text = item.partition("=")
        Path(rel).parent.mkdir(parents=True, exist_ok=True)
        Path(rel).write_text(text, encoding="utf-8")
    for item in opts.append:
        rel, _, text = item.partition("=")
        Path(rel).parent.mkdir(parents=True, exist_ok=True)
        with open(rel, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    time.sleep(opts.sleep)
    _fake.write_marker(opts)
    return int(opts.exit)


if __name__ == "__main__":
    raise SystemExit(main())
