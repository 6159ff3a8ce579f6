#!/usr/bin/env python3
"""Fake agent: write the completion marker, then never exit (the engine must kill it).

Options (also from $FAKE_AGENT_ARGS and ``FAKE:`` lines of the prompt file, see _fake.py):
  the marker options of sleep_then_mark.py (--marker, --status, --summary, --raw, --empty,
  --no-marker, --direct), plus
  --ignore-term        ignore SIGTERM, so only SIGKILL ends it
  --ready PATH         after the marker is written, write {"pid": <pid>} to PATH
"""

from __future__ import annotations

import argparse
import os

import _fake


def main() -> None:
    parser = argparse.ArgumentParser(prog="mark_then_hang")
    parser.add_argument("--ignore-term", action="store_true")
    _fake.add_marker_options(parser)
    _fake.add_ready_option(parser)
    opts = _fake.parse(parser)
    if opts.ignore_term:
        _fake.ignore_term()
    _fake.write_marker(opts)
    _fake.report(opts.ready, {"pid": os.getpid()})
    _fake.hang()


if __name__ == "__main__":
    main()
