"""`govpulse top`: the headline indicators in the terminal, refreshed live from the database.

For an operator at a console without Grafana, and to check at a glance that the pipeline moves.
It only reads (`govpulse.indicators`); Ctrl-C stops it. When the database cannot be reached at
start the command prints one line and exits 1; when it goes away while running, the frame says
so on one line and the next refresh tries again.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

import psycopg
import typer
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cli.context import settings_for
from cli.errors import fail, friendly_errors
from cli.output import console
from govpulse.db.connection import DatabaseUnavailable, connect, one_line
from govpulse.indicators import VIETNAM, Snapshot, read_snapshot
from govpulse.settings import Settings


@friendly_errors
def top(
    namespace: Annotated[str | None, typer.Option(help="Namespace (default: settings).")] = None,
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between refreshes.")] = 2.0,
    at: Annotated[
        datetime | None,
        typer.Option(help="Event time the indicators are as of (replays); naive = Vietnam time."),
    ] = None,
) -> None:
    """Show dossiers, payments, NDXP, documents, incidents and pipeline health, live."""
    settings = settings_for(namespace)
    as_of = None if at is None else (at if at.tzinfo else at.replace(tzinfo=VIETNAM))
    if once:
        console.print(render(_read(settings, as_of)))
        return
    conn = connect(settings.db, autocommit=True)
    outage = Outage()
    try:
        with Live(render(_snapshot(conn, settings, as_of)), console=console) as live:
            while True:
                time.sleep(interval)
                frame, conn = _refresh(conn, settings, as_of, outage)
                live.update(frame)
    except KeyboardInterrupt:
        pass
    finally:
        conn.close()


def _read(settings: Settings, as_of: datetime | None) -> Snapshot:
    with connect(settings.db, autocommit=True) as conn:
        return _snapshot(conn, settings, as_of)


def _snapshot(
    conn: psycopg.Connection[psycopg.rows.TupleRow], settings: Settings, as_of: datetime | None
) -> Snapshot:
    try:
        return read_snapshot(conn, settings.namespace, as_of=as_of)
    except psycopg.errors.UndefinedTable:
        raise fail(
            f"namespace {settings.namespace} has no tables at {settings.db.describe()}: "
            "run `govpulse db migrate` or choose --namespace"
        ) from None


class Outage:
    """Since when top has been unable to read the database (None: it reads fine)."""

    since: datetime | None = None


def _refresh(
    conn: psycopg.Connection[psycopg.rows.TupleRow],
    settings: Settings,
    as_of: datetime | None,
    outage: Outage,
) -> tuple[RenderableType, psycopg.Connection[psycopg.rows.TupleRow]]:
    """The next frame, reconnecting once if the connection broke since the last one."""
    try:
        if conn.closed:
            conn = connect(settings.db, autocommit=True)
        frame = render(_snapshot(conn, settings, as_of))
        outage.since = None
        return frame, conn
    except DatabaseUnavailable as exc:
        return _unreachable(str(exc), outage), conn
    except psycopg.OperationalError as exc:
        conn.close()
        return _unreachable(
            f"lost PostgreSQL at {settings.db.describe()}: {one_line(exc, settings.db)}", outage
        ), conn


def _unreachable(message: str, outage: Outage) -> Text:
    now = datetime.now(VIETNAM)
    outage.since = outage.since or now
    since = outage.since.isoformat(" ", "seconds")
    down = age((now - outage.since).total_seconds())
    return Text(f"{message}; unreachable since {since} ({down}); retrying", style="bold red")


def render(snapshot: Snapshot) -> Group:
    """One frame: the headline table, open incidents and pipeline health per feed."""
    h = snapshot.headline
    as_of = snapshot.as_of.astimezone(VIETNAM).isoformat(" ", "seconds")
    title = Text.assemble(
        ("govpulse top", "bold"), f"  namespace {snapshot.namespace}  as of {as_of}"
    )
    headline = Table("indicator", "value", "detail", title="headline", title_justify="left")
    rate = h.dossiers_last_hour
    headline.add_row("dossiers submitted, last hour", count(rate.submitted), "")
    headline.add_row(
        "full-process online rate, last hour",
        percent(rate.rate),
        f"ministries {percent(h.dossiers_ministries.rate)}, "
        f"provinces {percent(h.dossiers_provinces.rate)}",
    )
    headline.add_row(
        "online payments today", count(h.payments_today), f"{count(h.payments_today_vnd)} VND"
    )
    headline.add_row("NDXP calls/s, last 5 min", f"{h.ndxp_calls_per_s:,.2f}", "")
    headline.add_row("NDXP error + timeout rate, last 5 min", percent(h.ndxp_failure_rate), "")
    headline.add_row("NDXP p95 latency, last 5 min", milliseconds(h.ndxp_p95_ms), "")
    headline.add_row(
        "documents sent / received, last hour",
        f"{count(h.documents_sent)} / {count(h.documents_received)}",
        f"failed deliveries {count(h.deliveries_failed)}",
    )
    incidents = Table(*snapshot.open_incidents, title="open incidents", title_justify="left")
    incidents.add_row(*(count(n) for n in snapshot.open_incidents.values()))
    health = Table(
        "feed", "events last min", "invalid 1h", "late 1h", "duplicates 1h", "lag", "freshness",
        "last write", "workers", title="pipeline health", title_justify="left",
    )  # fmt: skip
    for feed in snapshot.health:
        health.add_row(
            feed.feed,
            count(feed.events_last_minute),
            count(feed.invalid),
            count(feed.late),
            count(feed.duplicates),
            "-" if feed.consumer_lag is None else count(feed.consumer_lag),
            age(feed.freshness_s),
            _last_write(feed.last_write_s),
            str(feed.workers),
        )
    reasons = Table("feed", "reason", "events 1h", title="invalid by reason",
                    title_justify="left")  # fmt: skip
    for feed in snapshot.health:
        for reason, events in feed.invalid_by_reason:
            reasons.add_row(feed.feed, reason, count(events))
    parts: list[RenderableType] = [title, headline, incidents, health]
    if reasons.row_count:
        parts.append(reasons)
    return Group(*parts)


# Workers write health about every second; a longer silence means they cannot write (a database
# outage on their side) or are not running.
STALE_WRITE_S = 30.0


def _last_write(seconds: float | None) -> Text | str:
    if seconds is None:
        return "-"
    text = age(seconds)
    return Text(f"{text} ago", style="bold red") if seconds > STALE_WRITE_S else f"{text} ago"


def count(value: int) -> str:
    return f"{value:,}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def milliseconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def age(seconds: float | None) -> str:
    """A freshness an operator reads at a glance: seconds, minutes or hours."""
    if seconds is None:
        return "none in 24 h"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def frame_text(snapshot: Snapshot, width: int = 120) -> str:
    """The frame as plain text, as `--once` prints it to a terminal this wide (for tests)."""
    recorder = Console(width=width, record=True, file=None, color_system=None)
    with recorder.capture():
        recorder.print(render(snapshot))
    return recorder.export_text()
