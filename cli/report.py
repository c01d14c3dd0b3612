"""`govpulse report`: the monthly national report from a namespace's rollups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import psycopg
import typer

from cli.context import settings_for
from cli.errors import fail, friendly_errors
from cli.output import console
from govpulse.db.connection import connect


@friendly_errors
def report(
    month: Annotated[str, typer.Option(help="The month, YYYY-MM (Vietnam time).")],
    namespace: Annotated[str | None, typer.Option(help="Namespace (default: settings).")] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="text, markdown, html or json.")
    ] = "text",
    out: Annotated[Path | None, typer.Option(help="File to write (default: standard output).")] = (
        None
    ),
    scale: Annotated[
        float,
        typer.Option(help="Scale of the simulation the namespace holds: published volumes × S."),
    ] = 1.0,
) -> None:
    """Report 200/BC-BTTTT's indicators for a month, from the stored rollups, beside the
    published figures."""
    from reports.formats import renderer
    from reports.report import parse_month, produce

    render = renderer(output_format)
    parse_month(month)  # a wrong month fails before connecting
    settings = settings_for(namespace)
    with connect(settings.db, autocommit=True) as conn:
        try:
            monthly = produce(conn, settings.namespace, month, scale)
        except psycopg.errors.UndefinedTable:
            raise fail(
                f"namespace {settings.namespace} has no tables at {settings.db.describe()}: "
                "run `govpulse db migrate` or choose --namespace"
            ) from None
    document = render(monthly)
    if out is None:
        # Plain write: the document is not rich markup, and must not be wrapped or highlighted.
        console.file.write(document)
        return
    out.write_text(document, encoding="utf-8")
    console.print(f"{output_format} report of {month} written to {out}", highlight=False)
