"""CPU time and peak memory of a process, read from /proc (Linux)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcessSample:
    cpu_s: float  # user + system time since the process started
    peak_rss_mb: float  # VmHWM: the resident set's high-water mark
    rss_mb: float = 0.0  # VmRSS: the resident set now


def stat_fields(pid: int | str) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold spaces and parentheses): the
    process state is item 0, utime and stime (fields 14 and 15) items 11 and 12."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(stat: list[str]) -> float:
    """User + system time since the process started, from `stat_fields`."""
    return (int(stat[11]) + int(stat[12])) / TICKS


def sample(pid: int) -> ProcessSample | None:
    try:
        stat = stat_fields(pid)
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    cpu = cpu_seconds(stat)
    fields = {
        line.split(":")[0]: int(line.split()[1])
        for line in status.splitlines()
        if line.startswith(("VmHWM:", "VmRSS:"))
    }
    return ProcessSample(cpu, fields.get("VmHWM", 0) / 1024, fields.get("VmRSS", 0) / 1024)
