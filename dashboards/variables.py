"""The template variables every govpulse dashboard shares, and the SQL fragments that use them.

Grafana substitutes the variables before the PostgreSQL datasource expands its macros: a
single-valued variable (`namespace`, `interval`) is inserted as is, a multi-valued one (`agency`)
as a comma-separated list of quoted literals, so `agency IN (${agency})` is valid SQL whatever
is selected. Namespaces are schema names checked by govpulse's settings (lowercase letters,
digits and `_`), so inserting `${namespace}` as an identifier cannot inject SQL.
"""

from __future__ import annotations

from dashboards.model import DATASOURCE, JSON

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
# Seconds in one time bucket: turns counts per bucket into rates whatever the interval.
BUCKET_SECONDS = "extract(epoch FROM '${interval}'::interval)"
TIME_GROUP = "$__timeGroupAlias(bucket, ${interval})"


def table(name: str) -> str:
    """A namespace table or view, e.g. `${namespace}.ndxp_minute`."""
    return f"{NAMESPACE}.{name}"


def _option(value: str, selected: bool) -> JSON:
    return {"selected": selected, "text": value, "value": value}


def templating() -> JSON:
    """The `templating` block: namespace (default live), agency (multi, default all), interval."""
    namespace: JSON = {
        "current": {"selected": True, "text": "live", "value": "live"},
        "datasource": DATASOURCE,
        "definition": NAMESPACE_QUERY,
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
        "definition": AGENCY_QUERY,
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
