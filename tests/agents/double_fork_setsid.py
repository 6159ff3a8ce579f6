#!/usr/bin/env python3
"""Fake agent: start a classic daemon (fork, setsid, fork) that escapes the agent's session.

The daemon is neither in the agent's process tree nor in its session or process group, so only
a subreaper or the ``COORDINATOR_*`` environment scan can find it.

Options (also from $FAKE_AGENT_ARGS and ``FAKE:`` lines of the prompt file, see _fake.py):
  --ready PATH            the daemon writes {"agent": ..., "daemon": ..., "daemon_sid": ...}
  --hang                  the agent hangs after starting the daemon (default: exits 0)
  --keep-stdio            the daemon keeps the agent's stdout/stderr (default: /dev/null)
  --daemon-ignore-term    the daemon ignores SIGTERM
  --daemon-exit-after S   the daemon exits by itself after S seconds (default: never)
  --no-second-fork        the setsid'd child itself is the daemon (a session leader) and the
                          agent does not wait for it
"""

from __future__ import annotations

import argparse
import os
import time

import _fake


def main() -> int:
    parser = argparse.ArgumentParser(prog="double_fork_setsid")
    parser.add_argument("--hang", action="store_true")
    parser.add_argument("--keep-stdio", action="store_true")
    parser.add_argument("--daemon-ignore-term", action="store_true")
    parser.add_argument("--daemon-exit-after", type=float)
    parser.add_argument("--no-second-fork", action="store_true")
    _fake.add_ready_option(parser)
    opts = _fake.parse(parser)
    agent = os.getpid()
    middle = os.fork()
    if middle == 0:
        os.setsid()
        if not opts.no_second_fork and os.fork() != 0:
            os._exit(0)
        # the daemon: orphaned as soon as the middle process exits
        if not opts.keep_stdio:
            _fake.detach_stdio()
        if opts.daemon_ignore_term:
            _fake.ignore_term()
        _fake.report(
            opts.ready, {"agent": agent, "daemon": os.getpid(), "daemon_sid": os.getsid(0)}
        )
        if opts.daemon_exit_after is not None:
            time.sleep(opts.daemon_exit_after)
            os._exit(0)
        _fake.hang()
    if not opts.no_second_fork:
        os.waitpid(middle, 0)
    if opts.hang:
        _fake.hang()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
