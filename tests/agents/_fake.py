"""Shared plumbing for the fake agents in this directory (not an agent itself).

Every fake agent takes its options from, in increasing priority:

1. ``$FAKE_AGENT_ARGS`` (split like a shell would, e.g. ``"--sleep 0.2 --status failed"``);
2. lines ``FAKE: <options>`` in the file named by ``$COORDINATOR_PROMPT_FILE`` (so one agent
   command in ``coordinator.toml`` can behave differently per task, driven by the spec body);
3. its own command line.

"Ready" reports (``--ready PATH``) are one JSON line written to PATH and closed; PATH may be a
FIFO the test created beforehand, which lets a test wait for the report without sleeping.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

_PROMPT_LINE = re.compile(r"^\s*FAKE:\s*(.*)$", re.MULTILINE)


def collect_args() -> list[str]:
    """The option words from the environment, the prompt file and argv, in that order."""
    words = shlex.split(os.environ.get("FAKE_AGENT_ARGS", ""))
    prompt = os.environ.get("COORDINATOR_PROMPT_FILE")
    if prompt and os.path.isfile(prompt):
        text = Path(prompt).read_text(encoding="utf-8", errors="replace")
        for line in _PROMPT_LINE.findall(text):
            words += shlex.split(line)
    return words + sys.argv[1:]


def parse(parser: argparse.ArgumentParser) -> argparse.Namespace:
    return parser.parse_args(collect_args())


def add_marker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--marker",
        default=os.environ.get("COORDINATOR_MARKER"),
        help="marker path (default: $COORDINATOR_MARKER)",
    )
    parser.add_argument("--status", default="done", help="status written into the marker")
    parser.add_argument("--summary", default="", help="summary written into the marker")
    parser.add_argument("--raw", help="write this text verbatim instead of JSON")
    parser.add_argument("--empty", action="store_true", help="write an empty marker")
    parser.add_argument("--no-marker", action="store_true", help="write no marker at all")
    parser.add_argument(
        "--direct",
        action="store_true",
        help="write the marker in place instead of temp file + rename",
    )


def add_ready_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ready", help="write a JSON line with the pids here when set up")


def write_marker(opts: argparse.Namespace) -> None:
    if opts.no_marker:
        return
    if not opts.marker:
        sys.exit("fake agent: no --marker and no $COORDINATOR_MARKER")
    if opts.empty:
        text = ""
    elif opts.raw is not None:
        text = opts.raw
    else:
        text = json.dumps({"status": opts.status, "summary": opts.summary})
    path = Path(opts.marker)
    path.parent.mkdir(parents=True, exist_ok=True)
    if opts.direct:
        path.write_text(text, encoding="utf-8")
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def report(path: str | None, data: dict[str, Any]) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data) + "\n")


def ignore_term() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def hang() -> None:
    """Block forever; only a signal ends this process."""
    while True:
        time.sleep(3600)


def detach_stdio() -> None:
    """Point stdin/stdout/stderr at /dev/null, as a well-behaved daemon does."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
