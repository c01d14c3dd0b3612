"""`govpulse namespace create | list | drop`: isolated copies of the pipeline's state.

A namespace owns its topics (`<name>.<feed>`, `.dlq`, `.late`), its Faust application id and
consumer group (`govpulse-<name>`, with its changelog topics) and its database schema.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.context import settings_for
from cli.errors import fail, friendly_errors
from cli.output import console
from govpulse.topics import select_feeds

app = typer.Typer(help="Isolated namespaces for replays and tests.", no_args_is_help=True)


@app.command("create")
@friendly_errors
def create(name: Annotated[str, typer.Argument(help="Namespace name.")]) -> None:
    """Create the namespace's topics and database schema (idempotent)."""
    from govpulse.db.migrate import migrate
    from govpulse.kafka_admin import ensure_topics

    settings = settings_for(name)
    created, _ = ensure_topics(settings.kafka, select_feeds(None), name)
    report = migrate(settings)
    console.print(f"namespace {name}: {len(created)} topics created, "
                  f"{len(report.applied)} migrations applied", highlight=False)  # fmt: skip


@app.command("list")
@friendly_errors
def list_namespaces() -> None:
    """Namespaces with a database schema, and how many of their topics the broker has."""
    from govpulse.db.migrate import list_namespaces as schemas
    from govpulse.kafka_admin import admin_client

    settings = settings_for()
    names = set(schemas(settings))
    client = admin_client(settings.kafka)
    try:
        topics = set(client.list_topics())
    finally:
        client.close()
    feeds = select_feeds(None)
    names |= {t.split(".", 1)[0] for t in topics if any(t.endswith("." + f.name) for f in feeds)}
    table = Table("namespace", "schema", "feed topics")
    for name in sorted(names):
        on_broker = sum(spec.topic(name) in topics for spec in feeds)
        table.add_row(
            name, "yes" if name in schemas(settings) else "no", f"{on_broker}/{len(feeds)}"
        )
    console.print(table)


@app.command("drop")
@friendly_errors
def drop(
    name: Annotated[str, typer.Argument(help="Namespace name.")],
    force: Annotated[bool, typer.Option(help="Allow dropping the live namespace.")] = False,
) -> None:
    """Delete the namespace's topics (with its workers' changelogs) and its database schema."""
    from govpulse.db.migrate import drop_namespace
    from govpulse.kafka_admin import admin_client

    if name == "live" and not force:
        raise fail("refusing to drop the live namespace without --force")
    settings = settings_for(name)
    client = admin_client(settings.kafka)
    try:
        owned = [t for t in client.list_topics()
                 if t.startswith(f"{name}.") or t.startswith(f"govpulse-{name}-")]  # fmt: skip
        if owned:
            client.delete_topics(owned)
    finally:
        client.close()
    dropped = drop_namespace(settings, name, force=force)
    console.print(f"namespace {name}: {len(owned)} topics deleted, schema "
                  f"{'dropped' if dropped else 'absent'}", highlight=False)  # fmt: skip
