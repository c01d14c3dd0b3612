"""CPU time each part of the pipeline spends while a command runs on this machine (Linux /proc).

    python -m benchmarks.cpu_by_process [--every 0.5] -- govpulse bench --scale 1.0 --hours 24 ...

Runs the command and samples every process once per `--every` seconds, sorting them into
PostgreSQL, the embedded broker, govpulse workers and the rest of govpulse (the bench, its load
producer and probe), and prints the CPU-seconds each class spent while the command ran: what a
process had spent before is subtracted, a process that ends keeps its last sample (so one that
lives less than `--every` may be missed); every local PostgreSQL cluster counts. It answers "who
used the two cores": a worker waiting for PostgreSQL shows as a low CPU share in `govpulse bench`,
and here as PostgreSQL's seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.process_stats import cpu_seconds, stat_fields

CLASSES = ("postgres", "broker", "worker", "govpulse")


def classify(command_line: str) -> str | None:
    """The class of a process from its command line, or None for processes not counted."""
    if command_line.startswith("postgres") or "/bin/postgres " in command_line:
        return "postgres"
    if "tansu" in command_line or ("govpulse" in command_line and " broker" in command_line):
        return "broker"
    if "cli.main worker" in command_line or "govpulse worker" in command_line:
        return "worker"
    if "govpulse" in command_line or "benchmarks" in command_line or "cli.main" in command_line:
        return "govpulse"
    return None


def _read(pid: str) -> tuple[str, float] | None:
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        stat = stat_fields(pid)
    except OSError:  # ended between listing and reading
        return None
    return command_line.decode(errors="replace").strip(), cpu_seconds(stat)


@dataclass
class CpuTally:
    """CPU-seconds per class, from successive samples of every process."""

    own_pid: int = field(default_factory=os.getpid)
    _baseline: dict[int, float] = field(default_factory=dict)
    _latest: dict[int, tuple[str, float]] = field(default_factory=dict)
    _first: bool = True

    def sample(self) -> None:
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == self.own_pid:
                continue
            read = _read(pid)
            if read is None:
                continue
            kind = classify(read[0])
            if kind is None:
                continue
            # Processes already running count from the first sample; later ones from their start.
            baseline = self._baseline.setdefault(int(pid), read[1] if self._first else 0.0)
            self._latest[int(pid)] = (kind, read[1] - baseline)
        self._first = False

    def totals(self) -> dict[str, float]:
        totals = dict.fromkeys(CLASSES, 0.0)
        for kind, cpu in self._latest.values():
            totals[kind] += cpu
        return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    tally = CpuTally()
    tally.sample()
    started = time.monotonic()
    child = subprocess.Popen(command)
    while child.poll() is None:
        time.sleep(args.every)
        tally.sample()
    wall = time.monotonic() - started
    totals = tally.totals()
    print(f"wall {wall:.1f} s; CPU-seconds while it ran:", file=sys.stderr)
    for kind in CLASSES:
        print(
            f"  {kind:<9} {totals[kind]:8.1f}  ({totals[kind] / wall:.2f} cores)", file=sys.stderr
        )
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
