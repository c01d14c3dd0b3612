"""The operations centre's headline indicators, read from a namespace's tables.

Called by `govpulse top` once per refresh (and by tests, with fixed times). `read_snapshot` runs a
handful of parameterised queries on one connection and returns plain numbers; it never writes.
It works on TimescaleDB and on plain PostgreSQL alike: it reads only the 1-minute tables and
`pipeline_health`, which exist under the same names on both.

Two clocks are involved, and a replay shows why they differ:
- `as_of`, in event time, places the business windows (default: the database's clock). Rolling
  windows ("last hour", "last 5 minutes") cover complete minutes only, `[end - w, end)` with
  `end` the start of `as_of`'s minute, so a rate does not dip while the current minute fills.
  Running totals ("today", open incidents) include the current minute.
- `now`, wall-clock time, places the pipeline's own health (`pipeline_health` is bucketed by
  wall-clock minute) and measures freshness (`now - last_event_at`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from govpulse.db.roles import REFERENCE_SCHEMA
from govpulse.events.incident import Severity
from govpulse.topics import FEEDS

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
# The dossier figures operators compare with the published ones split agencies by the provincial
# scheme of the calibration (63 provinces, 2024); ministries are the same in both schemes.
AGENCY_SCHEME = "2024"
HOUR = timedelta(hours=1)
NDXP_WINDOW = timedelta(minutes=5)
FRESHNESS_HORIZON = timedelta(days=1)  # older last events show as "none" rather than a scan


@dataclass(frozen=True, slots=True)
class OnlineRate:
    """Dossiers submitted in a window and how many of them were full-process online."""

    submitted: int
    full_online: int

    @property
    def rate(self) -> float | None:
        return self.full_online / self.submitted if self.submitted else None


@dataclass(frozen=True, slots=True)
class Headline:
    dossiers_last_hour: OnlineRate
    dossiers_ministries: OnlineRate
    dossiers_provinces: OnlineRate
    payments_today: int  # successful payments since local midnight
    payments_today_vnd: int
    ndxp_calls_per_s: float  # over the last 5 complete minutes
    ndxp_failure_rate: float | None  # (error + timeout) / calls, same window
    ndxp_p95_ms: float | None  # from the merged latency histograms, same window
    documents_sent: int  # last hour
    documents_received: int  # receipts delivered or acknowledged, last hour
    deliveries_failed: int  # receipts failed, last hour


@dataclass(frozen=True, slots=True)
class FeedHealth:
    feed: str
    events_last_minute: int  # events_in of the last complete wall-clock minute, all workers
    invalid: int  # last hour of wall-clock time
    late: int
    duplicates: int
    consumer_lag: int | None  # summed over workers' newest rows in the last 2 minutes
    freshness_s: float | None  # now - newest event time seen; None: nothing in a day
    workers: int  # workers that reported in the last 2 minutes
    # now - the last health write of any worker: a worker that cannot reach the database (an
    # outage between them) stops writing, so this grows while it lasts.
    last_write_s: float | None = None
    invalid_by_reason: tuple[tuple[str, int], ...] = ()  # last hour, largest first


@dataclass(frozen=True, slots=True)
class Snapshot:
    namespace: str
    as_of: datetime
    now: datetime
    headline: Headline
    open_incidents: dict[str, int]  # by severity, every severity present, lowest first
    health: tuple[FeedHealth, ...]  # one per feed of the registry, in its order


Connection = psycopg.Connection[TupleRow]


def read_snapshot(
    conn: Connection, namespace: str, *, as_of: datetime | None = None, now: datetime | None = None
) -> Snapshot:
    """Every indicator at once. `as_of` and `now` default to the database's clock."""
    db_now = _database_now(conn)
    now = now or db_now
    as_of = as_of or db_now
    schema = sql.Identifier(namespace)
    end = as_of.replace(second=0, microsecond=0)
    by_level = _dossiers_by_level(conn, schema, end - HOUR, end)
    payments, value = _payments_today(conn, schema, as_of)
    calls, failures, p95 = _ndxp(conn, schema, end - NDXP_WINDOW, end)
    sent, received, failed = _documents(conn, schema, end - HOUR, end)
    headline = Headline(
        dossiers_last_hour=OnlineRate(
            sum(r.submitted for r in by_level.values()),
            sum(r.full_online for r in by_level.values()),
        ),
        dossiers_ministries=by_level.get("ministry", OnlineRate(0, 0)),
        dossiers_provinces=by_level.get("province", OnlineRate(0, 0)),
        payments_today=payments,
        payments_today_vnd=value,
        ndxp_calls_per_s=calls / NDXP_WINDOW.total_seconds(),
        ndxp_failure_rate=failures / calls if calls else None,
        ndxp_p95_ms=p95,
        documents_sent=sent,
        documents_received=received,
        deliveries_failed=failed,
    )
    return Snapshot(
        namespace=namespace,
        as_of=as_of,
        now=now,
        headline=headline,
        open_incidents=_open_incidents(conn, schema, as_of),
        health=_health(conn, schema, now),
    )


def local_midnight(moment: datetime) -> datetime:
    """The start of `moment`'s day in Vietnam, where "today" is counted."""
    return moment.astimezone(VIETNAM).replace(hour=0, minute=0, second=0, microsecond=0)


def _rows(conn: Connection, query: sql.Composed, params: dict[str, Any]) -> list[TupleRow]:
    return conn.execute(query, params).fetchall()


def _database_now(conn: Connection) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    value: datetime = row[0]
    return value


def _dossiers_by_level(
    conn: Connection, schema: sql.Identifier, start: datetime, end: datetime
) -> dict[str, OnlineRate]:
    query = sql.SQL(
        """
        SELECT coalesce(a.level, 'other'), sum(d.events),
               coalesce(sum(d.events) FILTER (WHERE d.mode = 'full_online'), 0)
        FROM {schema}.dossier_minute AS d
        LEFT JOIN {reference}.agencies AS a ON a.scheme = %(scheme)s AND a.code = d.agency
        WHERE d.status = 'submitted' AND d.bucket >= %(start)s AND d.bucket < %(end)s
        GROUP BY 1
        """
    ).format(schema=schema, reference=sql.Identifier(REFERENCE_SCHEMA))
    params = {"scheme": AGENCY_SCHEME, "start": start, "end": end}
    return {
        level: OnlineRate(int(submitted), int(online))
        for level, submitted, online in _rows(conn, query, params)
    }


def _payments_today(conn: Connection, schema: sql.Identifier, as_of: datetime) -> tuple[int, int]:
    query = sql.SQL(
        """
        SELECT coalesce(sum(payments), 0), coalesce(sum(amount_vnd), 0)
        FROM {schema}.payment_minute
        WHERE status = 'success' AND bucket >= %(start)s AND bucket <= %(as_of)s
        """
    ).format(schema=schema)
    ((count, value),) = _rows(conn, query, {"start": local_midnight(as_of), "as_of": as_of})
    return int(count), int(value)


def _ndxp(
    conn: Connection, schema: sql.Identifier, start: datetime, end: datetime
) -> tuple[int, int, float | None]:
    query = sql.SQL(
        """
        SELECT coalesce(sum(calls), 0),
               coalesce(sum(calls) FILTER (WHERE result IN ('error', 'timeout')), 0),
               {reference}.histogram_quantile({reference}.hist_merge(latency_hist), 0.95)
        FROM {schema}.ndxp_minute
        WHERE bucket >= %(start)s AND bucket < %(end)s
        """
    ).format(schema=schema, reference=sql.Identifier(REFERENCE_SCHEMA))
    ((calls, failures, p95),) = _rows(conn, query, {"start": start, "end": end})
    return int(calls), int(failures), None if p95 is None else float(p95)


def _documents(
    conn: Connection, schema: sql.Identifier, start: datetime, end: datetime
) -> tuple[int, int, int]:
    query = sql.SQL(
        """
        SELECT coalesce(sum(documents) FILTER (WHERE action = 'sent'), 0),
               coalesce(sum(documents) FILTER (
                   WHERE action = 'receipt' AND delivery_status IN ('delivered', 'acknowledged')
               ), 0),
               coalesce(sum(documents) FILTER (
                   WHERE action = 'receipt' AND delivery_status = 'failed'
               ), 0)
        FROM {schema}.document_minute
        WHERE bucket >= %(start)s AND bucket < %(end)s
        """
    ).format(schema=schema)
    ((sent, received, failed),) = _rows(conn, query, {"start": start, "end": end})
    return int(sent), int(received), int(failed)


def _open_incidents(conn: Connection, schema: sql.Identifier, as_of: datetime) -> dict[str, int]:
    # An incident is open from its `detected` step to its `resolved` step. Counting the two steps
    # over all of the table (it holds a few hundred rows a day) needs no per-incident state; the
    # floor at zero covers data that starts with incidents detected before it.
    query = sql.SQL(
        """
        SELECT severity,
               coalesce(sum(events) FILTER (WHERE stage = 'detected'), 0)
               - coalesce(sum(events) FILTER (WHERE stage = 'resolved'), 0)
        FROM {schema}.incident_minute
        WHERE bucket <= %(as_of)s
        GROUP BY severity
        """
    ).format(schema=schema)
    found = {severity: int(open_) for severity, open_ in _rows(conn, query, {"as_of": as_of})}
    return {severity.value: max(0, found.get(severity.value, 0)) for severity in Severity}


def _health(conn: Connection, schema: sql.Identifier, now: datetime) -> tuple[FeedHealth, ...]:
    minute = now.replace(second=0, microsecond=0)
    query = sql.SQL(
        """
        WITH recent AS (
            SELECT DISTINCT ON (feed, worker) feed, worker, consumer_lag
            FROM {schema}.pipeline_health
            WHERE bucket >= %(recent)s AND bucket <= %(now)s
            ORDER BY feed, worker, bucket DESC
        )
        SELECT h.feed,
               coalesce(sum(h.events_in) FILTER (WHERE h.bucket = %(last_minute)s), 0),
               coalesce(sum(h.invalid) FILTER (WHERE h.bucket >= %(hour)s), 0),
               coalesce(sum(h.late) FILTER (WHERE h.bucket >= %(hour)s), 0),
               coalesce(sum(h.duplicates) FILTER (WHERE h.bucket >= %(hour)s), 0),
               (SELECT sum(r.consumer_lag) FROM recent AS r WHERE r.feed = h.feed),
               (SELECT count(*) FROM recent AS r WHERE r.feed = h.feed),
               extract(epoch FROM %(now)s - max(h.last_event_at)),
               extract(epoch FROM %(now)s - max(h.updated_at))
        FROM {schema}.pipeline_health AS h
        WHERE h.bucket >= %(horizon)s AND h.bucket <= %(now)s
        GROUP BY h.feed
        """
    ).format(schema=schema)
    params = {
        "now": now,
        "last_minute": minute - timedelta(minutes=1),
        "recent": minute - timedelta(minutes=2),
        "hour": minute - HOUR,
        "horizon": minute - FRESHNESS_HORIZON,
    }
    found = {row[0]: row for row in _rows(conn, query, params)}
    reasons = _invalid_by_reason(conn, schema, params["hour"], now)
    health = []
    for name in FEEDS:
        row = found.get(name)
        if row is None:
            health.append(FeedHealth(name, 0, 0, 0, 0, None, None, 0))
            continue
        _, events, invalid, late, duplicates, lag, workers, age, written = row
        health.append(
            FeedHealth(
                feed=name,
                events_last_minute=int(events),
                invalid=int(invalid),
                late=int(late),
                duplicates=int(duplicates),
                consumer_lag=None if lag is None else int(lag),
                freshness_s=None if age is None else float(age),
                workers=int(workers),
                last_write_s=None if written is None else float(written),
                invalid_by_reason=reasons.get(name, ()),
            )
        )
    return tuple(health)


def _invalid_by_reason(
    conn: Connection, schema: sql.Identifier, since: datetime, now: datetime
) -> dict[str, tuple[tuple[str, int], ...]]:
    query = sql.SQL(
        "SELECT feed, reason, sum(events) FROM {schema}.pipeline_rejects "
        "WHERE bucket >= %(since)s AND bucket <= %(now)s GROUP BY feed, reason "
        "ORDER BY feed, sum(events) DESC, reason"
    ).format(schema=schema)
    by_feed: dict[str, list[tuple[str, int]]] = {}
    for feed, reason, events in _rows(conn, query, {"since": since, "now": now}):
        by_feed.setdefault(feed, []).append((reason, int(events)))
    return {feed: tuple(reasons) for feed, reasons in by_feed.items()}
