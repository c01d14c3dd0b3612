"""`govpulse simulate`: a window of simulated feeds written to a recording, with a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from cli.errors import friendly_errors
from cli.output import console
from govpulse.topics import select_feeds


@friendly_errors
def simulate(
    profile: Annotated[
        str, typer.Option(help="A month (2024-10) or a range of days (2024-09-20..2024-10-23).")
    ] = "2024-10",
    scale: Annotated[float, typer.Option(help="Volume relative to the whole country.")] = 1.0,
    feeds: Annotated[list[str] | None, typer.Option("--feeds", help="Feeds (repeatable).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2024,
    out: Annotated[Path | None, typer.Option(help="Recording to write (.ndjson.gz).")] = None,
) -> None:
    """Simulate a window of event time; print the calibration figures beside the published ones."""
    from connectors.calibration import profile_window
    from connectors.calibration_report import CalibrationTally, compare
    from connectors.simulation import SimulationConfig
    from connectors.simulation import simulate as run_simulation
    from govpulse.recording import RecordingWriter

    start, end = profile_window(profile)
    names = tuple(spec.name for spec in select_feeds(feeds))
    config = SimulationConfig(seed=seed, scale=scale, feeds=names)
    tally = CalibrationTally()
    writer = RecordingWriter(out) if out else None
    window_s = (end - start).total_seconds()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[events]:>12,} events"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(f"simulating {profile}", total=window_s, events=0)
            for number, (feed_name, event) in enumerate(
                run_simulation(config, start, end), start=1
            ):
                tally.add(feed_name, event)
                if writer:
                    writer.write(feed_name, event)
                if number % 20_000 == 0:
                    done = (event.occurred_at - start).total_seconds()
                    bar.update(task, completed=done, events=number)
    finally:
        if writer:
            writer.close()
    table = Table(
        "figure",
        "seed",
        "expected",
        "simulated",
        "deviation",
        title=f"{profile} at scale {scale:g} (seed {seed}); expected = published figure pro rata",
    )
    checks = compare(tally, start, end, scale, set(names))
    for check in checks:
        colour = "green" if check.within_tolerance else "red"
        table.add_row(
            check.name,
            check.seed,
            _fmt(check.expected),
            _fmt(check.measured),
            f"[{colour}]{check.deviation:+.2%}[/]",
        )
    console.print(table)
    console.print(
        f"events: {sum(tally.events.values()):,} "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(tally.events.items())),
        highlight=False,
    )
    if writer:
        console.print(f"recording: {out} ({writer.count:,} events)", highlight=False)
    if not all(check.within_tolerance for check in checks):
        console.print("[yellow]some figures are outside ±2%: small scales add sampling noise[/]")


def _fmt(value: float) -> str:
    return f"{value:.4f}" if value < 1 else f"{value:,.0f}"
