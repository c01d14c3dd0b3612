"""The `govpulse` command line: the composition root that wires the kernel, connectors and
streams together (the only place in `govpulse` that imports them)."""

from __future__ import annotations

import typer

from cli import alerts as alerts_cli
from cli import connectors, dashboards, db, topics
from cli import namespace as namespace_cli
from cli.bench import bench
from cli.broker import broker
from cli.replay import record, replay
from cli.report import report
from cli.simulate import simulate
from cli.top import top
from cli.up import up
from cli.worker import worker

app = typer.Typer(
    help="govpulse: live metrics of Vietnam's national e-government platforms.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(alerts_cli.app, name="alerts")
app.add_typer(connectors.app, name="connectors")
app.add_typer(dashboards.app, name="dashboards")
app.add_typer(db.app, name="db")
app.add_typer(namespace_cli.app, name="namespace")
app.add_typer(topics.app, name="topics")
app.command("bench")(bench)
app.command("broker")(broker)
app.command("record")(record)
app.command("replay")(replay)
app.command("report")(report)
app.command("simulate")(simulate)
app.command("top")(top)
app.command("up")(up)
app.command("worker")(worker)


if __name__ == "__main__":
    app()
