"""What the CLI prints: progress lines while running and summaries at the end."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from connectors.producer import ProducerStats
from connectors.runner import RunProgress

console = Console()


def progress_printer(stats: ProducerStats) -> Callable[[RunProgress], None]:
    def show(progress: RunProgress) -> None:
        when = progress.event_time.isoformat(timespec="seconds") if progress.event_time else "-"
        console.print(
            f"{progress.events:>12,} events  {progress.rate:>10,.0f}/s  "
            f"{sum(stats.records.values()):>10,} records  event time {when}",
            highlight=False,
        )

    return show


def print_run_summary(progress: RunProgress, stats: ProducerStats) -> None:
    table = Table(
        "feed",
        "events",
        "records",
        "bytes",
        "duplicates",
        "late",
        "malformed",
        "silenced",
        title=f"produced in {progress.elapsed_s:.1f} s ({progress.rate:,.0f} events/s)",
    )
    for feed in sorted(stats.events):
        f = progress.faults
        table.add_row(
            feed,
            f"{stats.events[feed]:,}",
            f"{stats.records[feed]:,}",
            f"{stats.bytes[feed]:,}",
            f"{f.duplicates[feed]:,}",
            f"{f.late[feed]:,}",
            f"{f.malformed[feed]:,}",
            f"{f.silenced[feed]:,}",
        )
    console.print(table)
