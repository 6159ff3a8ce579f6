#!/usr/bin/env python3
"""Fake agent: fail at once, in one of several ways.

Options (also from $FAKE_AGENT_ARGS and ``FAKE:`` lines of the prompt file, see _fake.py):
  --exit N         exit with code N (default 3)
  --signal NAME    kill itself with this signal instead (e.g. KILL, SEGV, TERM)
  --traceback      raise an uncaught exception instead (exit code 1, traceback on stderr)
  --message TEXT   print TEXT to stderr first (default "fake agent crashing")
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import _fake


def main() -> int:
    parser = argparse.ArgumentParser(prog="crash")
    parser.add_argument("--exit", type=int, default=3)
    parser.add_argument("--signal")
    parser.add_argument("--traceback", action="store_true")
    parser.add_argument("--message", default="fake agent crashing")
    opts = _fake.parse(parser)
    print(opts.message, file=sys.stderr, flush=True)
    if opts.traceback:
        raise RuntimeError(opts.message)
    if opts.signal:
        name = opts.signal.upper()
        sig = getattr(signal, name if name.startswith("SIG") else "SIG" + name)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    return int(opts.exit)


if __name__ == "__main__":
    raise SystemExit(main())
