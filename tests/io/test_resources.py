"""The resource meter on real processes: the tree's memory summed, CPU never lost."""

from __future__ import annotations

import subprocess
import sys

from coordinator.io.resources import ResourceMeter, tree_usage

# A parent and a child that each hold 32 MiB until stdin closes.
HOLDER = """
import subprocess, sys
ballast = bytearray(32 * 1024 * 1024)
for i in range(0, len(ballast), 4096): ballast[i] = 1
child = subprocess.Popen([sys.executable, "-c", "import sys\\nb = bytearray(32 * 1024 * 1024)\\n"
    "for i in range(0, len(b), 4096): b[i] = 1\\nprint('ready', flush=True)\\nsys.stdin.read()"],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
child.stdout.readline()
print("ready", flush=True)
sys.stdin.read()
child.stdin.close(); child.wait()
"""


def test_the_tree_is_summed_and_finish_keeps_the_peak_and_wait4s_cpu() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline() == b"ready\n"
        now = tree_usage(proc.pid, None)
        assert now is not None and now[0] >= 64 * 1024 * 1024  # both processes' memory
        meter = ResourceMeter(interval=3600)  # sampled by hand below
        meter.watch("t", proc.pid, None)
        assert meter.current("t") is None  # not sampled yet
        meter.sample()
        sampled = meter.current("t")
        assert sampled is not None and sampled.peak_rss_bytes is not None
        assert sampled.peak_rss_bytes >= 64 * 1024 * 1024
    finally:
        proc.stdin.close()
        proc.wait()
    done = meter.finish("t", cpu_seconds=123.0, max_rss=1024)
    assert done.cpu_seconds == 123.0  # wait4's word is more than any sample saw
    assert done.peak_rss_bytes == sampled.peak_rss_bytes
    assert meter.finish("unknown").cpu_seconds is None
    meter.stop()
    assert tree_usage(proc.pid, None) is None  # gone
