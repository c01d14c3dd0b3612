"""benchmarks.cpu_by_process: which process is which, and CPU counted from when sampling began."""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks.cpu_by_process import CpuTally, classify
from benchmarks.process_stats import sample

# "govpulse" in the command line puts the process in that class.
BURN = (
    "import time\nend = time.process_time() + {s}\nwhile time.process_time() < end: pass"
    "  # govpulse"
)


def test_processes_are_sorted_by_their_command_lines() -> None:
    assert classify("postgres: 15/main: govpulse govpulse 127.0.0.1(5432) idle") == "postgres"
    assert classify("/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main") == (
        "postgres"
    )
    assert classify("/root/.calfkit/bin/tansu-v0.6.0 broker --listener-url tcp://x") == "broker"
    assert classify("/venv/bin/python /venv/bin/govpulse broker --port 19092") == "broker"
    assert classify("/venv/bin/python -m cli.main worker") == "worker"
    assert classify("/venv/bin/python /venv/bin/govpulse bench --scale 1.0") == "govpulse"
    assert classify("/usr/sbin/sshd -D") is None


def test_a_process_counts_from_its_start_or_from_the_first_sample() -> None:
    tally = CpuTally()
    early = subprocess.Popen([sys.executable, "-c", BURN.format(s=1.2)])
    time.sleep(0.6)  # part of its CPU is spent before sampling begins
    before = sample(early.pid)
    tally.sample()
    late = subprocess.Popen([sys.executable, "-c", BURN.format(s=0.6)])
    while early.poll() is None or late.poll() is None:
        tally.sample()
        time.sleep(0.05)
    assert before is not None and before.cpu_s > 0
    spent = tally.totals()["govpulse"]
    # All of the late process's 0.6 s; of the early one's 1.2 s, what followed the first sample
    # (less what either spent after its last sample, and interpreter start-up on top).
    expected = 0.6 + 1.2 - before.cpu_s
    assert expected - 0.15 <= spent <= expected + 0.15, (spent, expected)
