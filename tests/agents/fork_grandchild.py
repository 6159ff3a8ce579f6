#!/usr/bin/env python3
"""Fake agent: fork a child that forks a grandchild; all three stay in the agent's session.

Options (also from $FAKE_AGENT_ARGS and ``FAKE:`` lines of the prompt file, see _fake.py):
  --ready PATH        write {"pid": ..., "child": ..., "grandchild": ...} to PATH once all exist
  --exit-parent       the agent itself exits 0 after reporting (child and grandchild live on,
                      re-parented to init or to the nearest subreaper)
  --ignore-term       all three processes ignore SIGTERM
"""

from __future__ import annotations

import argparse
import os

import _fake


def main() -> int:
    parser = argparse.ArgumentParser(prog="fork_grandchild")
    parser.add_argument("--exit-parent", action="store_true")
    parser.add_argument("--ignore-term", action="store_true")
    _fake.add_ready_option(parser)
    opts = _fake.parse(parser)
    if opts.ignore_term:
        _fake.ignore_term()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        grandchild = os.fork()
        if grandchild == 0:
            os.close(write_end)
            _fake.hang()
        os.write(write_end, f"{grandchild}\n".encode())
        os.close(write_end)
        _fake.hang()
    os.close(write_end)
    with os.fdopen(read_end) as fh:
        grandchild = int(fh.readline())
    _fake.report(opts.ready, {"pid": os.getpid(), "child": child, "grandchild": grandchild})
    if opts.exit_parent:
        return 0
    _fake.hang()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
