"""`govpulse bench`: throughput, freshness and replay figures of this machine, printed.

The run itself (throw-away namespaces, the four measurements) is `benchmarks.suite`.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from cli.context import configure_logging, settings_for
from cli.errors import friendly_errors
from cli.output import console


@friendly_errors
def bench(
    scale: Annotated[float, typer.Option(help="Volume of the simulated window.")] = 1.0,
    hours: Annotated[
        float, typer.Option(help="Hours of event time (from 08:00 on 1 Oct 2024).")
    ] = 2.0,
    rate: Annotated[
        float, typer.Option(help="Offered load for the freshness run (events/s).")
    ] = 10_000,
    freshness_s: Annotated[float, typer.Option(help="Length of the freshness run (s).")] = 30,
    archive: Annotated[
        bool, typer.Option(help="Keep the raw-event archive on in the worker.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    keep: Annotated[
        bool,
        typer.Option(
            help="Keep the namespaces, the recording and the workers' logs for inspection."
        ),
    ] = False,
    overload_records_per_s: Annotated[
        float,
        typer.Option(
            help="(e) Offer one-event records this fast to a worker and report its memory "
            "during and after (0: skip)."
        ),
    ] = 0,
    overload_s: Annotated[float, typer.Option(help="Length of the overload (s).")] = 180,
) -> None:
    """Measure the raw ceiling, the pipeline rate, freshness and the replay rate."""
    from benchmarks.suite import BenchOptions, run_bench

    configure_logging("WARNING")
    options = BenchOptions(
        scale=scale, hours=hours, rate=rate, freshness_s=freshness_s, archive=archive, keep=keep,
        overload_records_per_s=overload_records_per_s, overload_s=overload_s,
    )  # fmt: skip
    figures = run_bench(settings_for(), options, stage=console.status)
    if as_json:
        print(json.dumps(figures, indent=2))
        return
    table = Table(
        "figure",
        "value",
        title=f"govpulse bench: {figures['events']:,} events "
        f"({hours:g} h at scale {scale:g}), raw archive {'on' if archive else 'off'}",
    )
    for key, value in figures.items():
        table.add_row(
            key,
            f"{value:,}"
            if isinstance(value, int | float) and not isinstance(value, bool)
            else str(value),
        )
    console.print(table)
