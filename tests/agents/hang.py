#!/usr/bin/env python3
"""Fake agent: never exits, optionally with children that never exit either.

Options (also from $FAKE_AGENT_ARGS and ``FAKE:`` lines of the prompt file, see _fake.py):
  --children N             fork N children that hang too (default 0)
  --ignore-term            this process ignores SIGTERM
  --children-ignore-term   the children ignore SIGTERM
  --say TEXT               print TEXT to stdout first
  --ready PATH             once all children exist, write {"pid": ..., "children": [...]} to PATH
"""

from __future__ import annotations

import argparse
import os
import signal

import _fake


def main() -> None:
    parser = argparse.ArgumentParser(prog="hang")
    parser.add_argument("--children", type=int, default=0)
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--children-ignore-term", action="store_true")
    parser.add_argument("--say")
    _fake.add_ready_option(parser)
    opts = _fake.parse(parser)
    if opts.say is not None:
        print(opts.say, flush=True)
    children = []
    for _ in range(opts.children):
        pid = os.fork()
        if pid == 0:
            if opts.children_ignore_term:
                _fake.ignore_term()
            else:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _fake.hang()
        children.append(pid)
    if opts.ignore_term:
        _fake.ignore_term()
    _fake.report(opts.ready, {"pid": os.getpid(), "children": children})
    _fake.hang()


if __name__ == "__main__":
    main()
