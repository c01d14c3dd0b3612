"""`govpulse topics create | list`: the registry's topics on the broker."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.context import settings_for
from cli.errors import friendly_errors
from cli.output import console
from govpulse.kafka_admin import admin_client, ensure_topics, planned_topics
from govpulse.topics import select_feeds

app = typer.Typer(help="Kafka topics of a namespace.", no_args_is_help=True)


@app.command("create")
@friendly_errors
def create(
    feeds: Annotated[list[str] | None, typer.Argument(help="Feeds (default: all).")] = None,
    namespace: Annotated[str | None, typer.Option(help="Namespace (default: settings).")] = None,
) -> None:
    """Create every topic of the namespace (feed, .dlq, .late) that does not exist yet."""
    settings = settings_for(namespace)
    created, present = ensure_topics(settings.kafka, select_feeds(feeds), settings.namespace)
    for name in created:
        console.print(f"created  {name}", highlight=False)
    for name in present:
        console.print(f"present  {name}", highlight=False)


@app.command("list")
@friendly_errors
def list_topics(
    namespace: Annotated[str | None, typer.Option(help="Namespace (default: settings).")] = None,
) -> None:
    """Show the namespace's planned topics and whether the broker has them."""
    settings = settings_for(namespace)
    client = admin_client(settings.kafka)
    try:
        existing = set(client.list_topics())
    finally:
        client.close()
    table = Table("topic", "partitions", "retention (h)", "on broker")
    for plan in planned_topics(select_feeds(None), settings.namespace):
        table.add_row(
            plan.name,
            str(plan.partitions),
            f"{plan.retention_ms / 3_600_000:g}",
            "yes" if plan.name in existing else "no",
        )
    console.print(table)
