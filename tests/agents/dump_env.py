#!/usr/bin/env python3
"""Fake agent: record how it was started (argv, cwd, environment, ids) as JSON, then exit.

Options (also from $FAKE_AGENT_ARGS and ``FAKE:`` lines of the prompt file, see _fake.py):
  --out PATH     where to write the JSON (default $FAKE_DUMP, else stdout)
  --exit N       exit code (default 0)
The JSON holds the original sys.argv (before option parsing), so placeholder rendering can be
checked argument by argument.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import _fake


def main() -> int:
    argv = list(sys.argv)
    parser = argparse.ArgumentParser(prog="dump_env")
    parser.add_argument("--out", default=os.environ.get("FAKE_DUMP"))
    parser.add_argument("--exit", type=int, default=0)
    opts, _unknown = parser.parse_known_args(_fake.collect_args())
    data = {
        "argv": argv,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "pid": os.getpid(),
        "sid": os.getsid(0),
        "pgid": os.getpgid(0),
        "stdin_is_tty": sys.stdin.isatty(),
        "stdin": sys.stdin.read(),
    }
    text = json.dumps(data, indent=1)
    if opts.out:
        with open(opts.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        print(text)
    return int(opts.exit)


if __name__ == "__main__":
    raise SystemExit(main())
