#!/usr/bin/env python3
"""Fake agent: write a lot of output as fast as it can, then exit.

Options (also from $FAKE_AGENT_ARGS and ``FAKE:`` lines of the prompt file, see _fake.py):
  --bytes N      how much to write; suffixes K, M, G (default 50M)
  --stderr       write to stderr instead of stdout
  --exit N       exit code afterwards (default 0)
"""

from __future__ import annotations

import argparse
import sys

import _fake

_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}


def size(text: str) -> int:
    text = text.strip().upper().removesuffix("B")
    if text and text[-1] in _UNITS:
        return int(float(text[:-1]) * _UNITS[text[-1]])
    return int(text)


def main() -> int:
    parser = argparse.ArgumentParser(prog="spew")
    parser.add_argument("--bytes", type=size, default=size("50M"))
    parser.add_argument("--stderr", action="store_true")
    parser.add_argument("--exit", type=int, default=0)
    opts = _fake.parse(parser)
    stream = sys.stderr.buffer if opts.stderr else sys.stdout.buffer
    line = b"x" * 79 + b"\n"
    block = line * 1024
    left = opts.bytes
    while left > 0:
        chunk = block[:left]
        stream.write(chunk)
        left -= len(chunk)
    stream.flush()
    return int(opts.exit)


if __name__ == "__main__":
    raise SystemExit(main())
