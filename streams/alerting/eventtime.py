"""Where an evaluator stands in time: the wall clock live, the event time the data reached in a
replay namespace.

Live (`clock: wall`), a rule is evaluated at the last minute boundary at least `settle_s` before
the wall clock, so the minutes it looks at have been flushed. In a replay namespace
(`clock: event`), at every minute boundary up to the event time the namespace's data has reached,
one after the other however fast the replay goes, so a replayed incident makes the transitions it
made live at the same (event) times. "Reached" is the newest bucket of the slowest feed, feeds
more than `event_time_max_lag_s` behind the newest excepted (a feed that fell silent must not
hold alerting back: its silence is what alerting is for). The newest bucket of a feed may still
be filling, and windows only count the minutes before the evaluation time. Two more conditions
make a minute's data complete before it is evaluated: the data is at rest (the workers took in
nothing since the previous tick and the newest `pipeline_health` row of every feed and worker
shows no consumer lag: data still pouring in, as in a replay sent faster than the workers read,
can leave a sparse partition read far ahead of a busy one), and it reached
`event_settle_s` past the minute (the producer sends each partition's batches up to its batch
span apart in event time). A replay is therefore evaluated when it pauses or ends, minute by
minute at the event times its data reached, exactly as live would have.

Pure functions and statements; the evaluator runs them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from psycopg import sql

from govpulse.alerts.measures import EVENT_COUNTS
from govpulse.db.tables import AGGREGATE_TABLES
from govpulse.settings import AlertSettings

Clock = Literal["wall", "event"]
MINUTE = timedelta(minutes=1)


def clock_of(settings: AlertSettings, namespace: str) -> Clock:
    """`auto`: the wall clock for the `live` namespace, event time for any other."""
    if settings.clock != "auto":
        return settings.clock
    return "wall" if namespace == "live" else "event"


def minute_floor(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def wall_as_of(now: datetime, settle_s: float) -> datetime:
    return minute_floor(now - timedelta(seconds=settle_s))


def extent_statement(schema: str) -> sql.Composed:
    """(feed, oldest bucket, newest bucket) of every feed with data."""
    parts = [
        sql.SQL("SELECT {feed}::text, min(bucket), max(bucket) FROM {table}").format(
            feed=sql.Literal(feed), table=sql.Identifier(schema, AGGREGATE_TABLES[feed].name)
        )
        for feed in EVENT_COUNTS
    ]
    return sql.SQL("SELECT * FROM ({}) extents WHERE max IS NOT NULL").format(
        sql.SQL(" UNION ALL ").join(parts)
    )


def intake_statement(schema: str) -> sql.Composed:
    """Events the workers took in over the last quarter hour (wall clock): unchanged between two
    ticks means nothing arrived in between."""
    return sql.SQL(
        "SELECT coalesce(sum(events_in), 0) FROM {} WHERE bucket > now() - interval '15 minutes'"
    ).format(sql.Identifier(schema, "pipeline_health"))


def lagging_statement(schema: str) -> sql.Composed:
    """How many feeds and workers, by their newest health row of the last two minutes, have not
    read everything the broker holds (0: the database has all that was sent)."""
    return sql.SQL(
        "SELECT count(*) FROM (SELECT DISTINCT ON (feed, worker) consumer_lag FROM {} "
        "WHERE updated_at > now() - interval '2 minutes' ORDER BY feed, worker, updated_at DESC) "
        "newest WHERE consumer_lag > 0"
    ).format(sql.Identifier(schema, "pipeline_health"))


def reached(newest_by_feed: Iterable[datetime], max_lag: timedelta) -> datetime | None:
    """The newest bucket of the slowest feed that is not more than `max_lag` behind."""
    newest = list(newest_by_feed)
    if not newest:
        return None
    front = max(newest)
    return min(bucket for bucket in newest if bucket >= front - max_lag)


def event_steps(
    last: datetime | None, oldest: datetime, target: datetime, limit: int
) -> list[datetime]:
    """The minute boundaries after `last` (or from the minute after the oldest data) up to
    `target`, at most `limit` of them."""
    start = last + MINUTE if last is not None else minute_floor(oldest) + MINUTE
    steps: list[datetime] = []
    at = start
    while at <= target and len(steps) < limit:
        steps.append(at)
        at += MINUTE
    return steps


def progress_statements(schema: str) -> tuple[sql.Composed, sql.Composed]:
    """(read the event-time progress, upsert it with parameter as_of)."""
    table = sql.Identifier(schema, "alert_progress")
    read = sql.SQL("SELECT as_of FROM {} WHERE clock = 'event'").format(table)
    write = sql.SQL(
        "INSERT INTO {} (clock, as_of) VALUES ('event', %s) ON CONFLICT (clock) "
        "DO UPDATE SET as_of = excluded.as_of, updated_at = now()"
    ).format(table)
    return read, write
