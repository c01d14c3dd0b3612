"""The template variables every govpulse dashboard shares, and the SQL fragments that use them.

Grafana substitutes the variables before the PostgreSQL datasource expands its macros: a
single-valued variable (`namespace`, `interval`) is inserted as is, a multi-valued one (`agency`)
as a comma-separated list of quoted literals, so `agency IN (${agency})` is valid SQL whatever
is selected. Namespaces are schema names checked by govpulse's settings (lowercase letters,
digits and `_`), so inserting `${namespace}` as an identifier cannot inject SQL.
"""

from __future__ import annotations

from datetime import timedelta

from dashboards.model import DATASOURCE, JSON
from govpulse import histogram
from govpulse.db.tables import AGGREGATE_TABLES

# Migrated namespaces are the schemas holding a schema_migrations table
# (govpulse.db.migrate.list_namespaces asks the same question).
NAMESPACE_QUERY = (
    "SELECT n.nspname FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relname = 'schema_migrations' AND c.relkind IN ('r', 'p') ORDER BY 1"
)
# The 2024 scheme: the period of the simulated and replayed data (63 provinces).
AGENCY_QUERY = (
    "SELECT code AS __value, name_en || ' (' || code || ')' AS __text "
    "FROM reference.agencies WHERE scheme = '2024' ORDER BY level, code"
)
INTERVALS = ("1m", "5m", "15m", "1h", "6h", "1d")

NAMESPACE = "${namespace}"
AGENCY_FILTER = "agency IN (${agency})"
# The time range and the chosen agencies: the WHERE clause of most panels.
RANGE_AND_AGENCY = f"$__timeFilter(bucket) AND {AGENCY_FILTER}"

# Resolution by the dashboard's range (design.md, Storage): up to 6 hours the minute tables, up
# to 14 days the hourly rollups, beyond that the daily ones (Vietnam days). A 30-day range then
# reads about 30 rows per key instead of 43,200. With TimescaleDB the rollups are continuous
# aggregates with real-time aggregation, so their newest buckets are still computed from the
# minute rows; on plain PostgreSQL they are views over the minute tables. The choice is SQL on
# Grafana's $__timeFrom()/$__timeTo() macros, so it needs no template variable and no plugin.
MINUTE_RANGE_MAX = timedelta(hours=6)
HOURLY_RANGE_MAX = timedelta(days=14)
RANGE = "($__timeTo()::timestamptz - $__timeFrom()::timestamptz)"
RESOLUTION = (
    f"(CASE WHEN {RANGE} <= interval '{MINUTE_RANGE_MAX.total_seconds():.0f} seconds' "
    "THEN interval '1 minute' "
    f"WHEN {RANGE} <= interval '{HOURLY_RANGE_MAX.total_seconds():.0f} seconds' "
    "THEN interval '1 hour' ELSE interval '1 day' END)"
)
RESOLUTIONS = (("", "1 minute"), ("_hourly", "1 hour"), ("_daily", "1 day"))
# A time bucket of the panels: the interval variable, but never finer than the rows read (an
# hourly row split into 5-minute buckets would show one spike and eleven zeros).
WIDTH = f"greatest('${{interval}}'::interval, {RESOLUTION})"
# Seconds in one time bucket: turns counts per bucket into rates whatever the width.
BUCKET_SECONDS = f"extract(epoch FROM {WIDTH})"
# Buckets start at Vietnam midnight (UTC+7, no daylight saving), like the daily rollups.
TIME_GROUP = f"date_bin({WIDTH}, bucket, timestamptz '2000-01-01 00:00:00+07') AS \"time\""


def table(name: str) -> str:
    """A namespace table or view, e.g. `${namespace}.ndxp_minute`."""
    return f"{NAMESPACE}.{name}"


def merged(column: str) -> str:
    """A histogram column summed element-wise over the group: what `reference.hist_merge` gives,
    about five times faster (one native sum per bucket, not a new array for every row), which
    counts when a panel merges a month of rows."""
    sums = ", ".join(f"sum({column}[{i}])" for i in range(1, histogram.BUCKETS + 1))
    return f"ARRAY[{sums}]::bigint[]"


# Narrower rollup families (migrations 0031, 0032): a minute table's rollups without dimensions
# that some panels never group or filter by, several times fewer rows. name -> (minute table,
# dropped dimensions). rows() reads a table's headline family unless the panel names another
# (or the minute table itself, for every dimension); the minute branch reads the same columns.
NARROW_ROLLUPS = {
    "dossier_headline": ("dossier_minute", ("field",)),
    "dossier_field": ("dossier_minute", ("channel", "mode")),
    "ndxp_latency": ("ndxp_minute", ("provider", "result")),
}
HEADLINE_ROLLUPS = {"dossier_minute": "dossier_headline"}


def rows(minute_table: str, alias: str | None = None, *, family: str | None = None) -> str:
    """The rows of a minute table at the resolution the range calls for, as a FROM item.

    The table itself, or the `_hourly` or `_daily` rollup of a family (read through its `_rows`
    view, migration 0032: its materialized buckets, then the finer rows of the edge ungrouped,
    which the panel's own aggregate sums anyway). The family is `family` when given (the minute
    table's name for the rollups with every dimension, or one of NARROW_ROLLUPS), else the
    table's headline family where it has one. Every branch has the same columns: the minute
    branch reads the table's without the family's dropped dimensions. Each branch's condition
    depends only on the range, so PostgreSQL evaluates it once, before reading anything, and runs
    one branch; the panel's own filters reach into every branch.
    """
    family = family or HEADLINE_ROLLUPS.get(minute_table, minute_table)
    if family == minute_table:
        columns = "*"
    else:
        source, dropped = NARROW_ROLLUPS[family]
        if source != minute_table:
            raise ValueError(f"{family} rolls up {source}, not {minute_table}")
        columns = ", ".join(c for c in _columns(minute_table) if c not in dropped)
    relations = [minute_table, *(f"{family}{suffix}_rows" for suffix, _ in RESOLUTIONS[1:])]
    branches = " UNION ALL ".join(
        f"SELECT {columns} FROM {table(relation)} WHERE {RESOLUTION} = interval '{width}'"
        for relation, (_, width) in zip(relations, RESOLUTIONS, strict=True)
    )
    return f"({branches}) AS {alias or minute_table}"


def _columns(minute_table: str) -> tuple[str, ...]:
    """A rollup's columns: the minute table's, then `updated_at` (the newest row behind it)."""
    (found,) = (t for t in AGGREGATE_TABLES.values() if t.name == minute_table)
    return (*found.columns, "updated_at")


def _option(value: str, selected: bool) -> JSON:
    return {"selected": selected, "text": value, "value": value}


def templating() -> JSON:
    """The `templating` block: namespace (default live), agency (multi, default all), interval."""
    namespace: JSON = {
        "current": {"selected": True, "text": "live", "value": "live"},
        "datasource": DATASOURCE,
        "description": "Live data or a replay: the database schema the panels read.",
        "hide": 0,
        "includeAll": False,
        "label": "Namespace",
        "multi": False,
        "name": "namespace",
        "options": [],
        "query": NAMESPACE_QUERY,
        "refresh": 1,
        "sort": 1,
        "type": "query",
    }
    agency: JSON = {
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": DATASOURCE,
        "description": "Ministries, provinces (2024 scheme) and other NDXP members.",
        "hide": 0,
        "includeAll": True,
        "label": "Agency",
        "multi": True,
        "name": "agency",
        "options": [],
        "query": AGENCY_QUERY,
        "refresh": 1,
        "sort": 0,
        "type": "query",
    }
    interval: JSON = {
        "auto": True,
        "auto_count": 60,
        # Rows are 1-minute buckets; a finer interval would only split them.
        "auto_min": "1m",
        "current": {"selected": True, "text": "auto", "value": "$__auto_interval_interval"},
        "hide": 0,
        "label": "Interval",
        "name": "interval",
        "options": [_option("auto", True), *(_option(i, False) for i in INTERVALS)],
        "query": ",".join(INTERVALS),
        "refresh": 2,
        "type": "interval",
    }
    return {"list": [namespace, agency, interval]}
