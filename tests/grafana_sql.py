"""What Grafana does to a PostgreSQL panel query before the database sees it, for tests.

Three steps, in Grafana's order:
1. the frontend substitutes template variables (packages/grafana-sql SqlDatasource
   .interpolateVariable): a multi-value or include-all variable becomes quoted literals joined by
   commas, a single value is inserted with `'` doubled; unknown `$names` are left alone;
2. the backend (pkg/tsdb/sqleng Interpolate) replaces `$__interval_ms`, `$__interval`,
   `$__unixEpochFrom()` and `$__unixEpochTo()`;
3. the PostgreSQL macro engine (pkg/tsdb/grafana-postgresql-datasource/macros.go) expands
   `$__name(args)` macros, with `time_bucket` for `$__timeGroup` only when the datasource has
   TimescaleDB enabled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

# Grafana's variableRegex: $name, [[name]] or [[name:format]], ${name}, ${name.path:format}.
_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}"
)
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def interpolate(sql: str, variables: Mapping[str, str | Sequence[str]], multi: set[str]) -> str:
    """Step 1: template variables; names not in `variables` stay as they are."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        if name not in variables:
            return match.group(0)
        value = variables[name]
        if isinstance(value, str):
            return quote_literal(value) if name in multi else value.replace("'", "''")
        return ",".join(quote_literal(v) for v in value)

    return _VARIABLE.sub(replace, sql)


def parse_interval(text: str) -> timedelta:
    """gtime.ParseInterval for the forms dashboards use: 30s, 1m, 5m, 1h, 1d, 1w, 1y."""
    found = re.fullmatch(r"(\d+)(ms|s|m|h|d|w|y)", text.strip().strip("'"))
    if not found:
        raise ValueError(f"error parsing interval {text}")
    return timedelta(seconds=int(found.group(1)) * _UNITS[found.group(2)])


def format_interval(interval: timedelta) -> str:
    """gtime.FormatInterval: the largest whole unit (1d, 1h, 5m, 30s, 500ms)."""
    ms = int(interval.total_seconds() * 1000)
    for unit, size in (("y", 31536000000), ("w", 604800000), ("d", 86400000), ("h", 3600000),
                       ("m", 60000), ("s", 1000)):  # fmt: skip
        if ms >= size:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def rfc3339(moment: datetime) -> str:
    """Go's time.RFC3339Nano in UTC: `Z`, fraction without trailing zeros."""
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def _go_float(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def expand_macros(
    sql: str, start: datetime, end: datetime, interval: timedelta, *, timescaledb: bool
) -> str:
    """Steps 2 and 3 for a query whose panel interval ($__interval) is `interval`."""
    sql = sql.replace("$__interval_ms", str(int(interval.total_seconds() * 1000)))
    sql = sql.replace("$__interval", format_interval(interval))
    sql = sql.replace("$__unixEpochFrom()", str(int(start.timestamp())))
    sql = sql.replace("$__unixEpochTo()", str(int(end.timestamp())))

    def macro(match: re.Match[str]) -> str:
        name, args = match.group(1), [a.strip() for a in match.group(2).split(",")]
        if name == "__timeGroup" and sql[match.end() : match.end() + 1] == ",":
            name = "__timeGroupAlias"  # Grafana's pre-5.3 compatibility rule
        if name == "__time":
            return f'{args[0]} AS "time"'
        if name == "__timeEpoch":
            return f'extract(epoch from {args[0]}) as "time"'
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{rfc3339(start)}' AND '{rfc3339(end)}'"
        if name == "__timeFrom":
            return f"'{rfc3339(start)}'"
        if name == "__timeTo":
            return f"'{rfc3339(end)}'"
        if name in ("__timeGroup", "__timeGroupAlias"):
            seconds = parse_interval(args[1]).total_seconds()
            if timescaledb:
                group = f"time_bucket('{seconds:.3f}s',{args[0]})"
            else:
                s = _go_float(seconds)
                group = f"floor(extract(epoch from {args[0]})/{s})*{s}"
            return group + (' AS "time"' if name == "__timeGroupAlias" else "")
        if name == "__unixEpochFilter":
            a = args[0]
            return f"{a} >= {int(start.timestamp())} AND {a} <= {int(end.timestamp())}"
        raise ValueError(f"unknown macro {name!r}")

    return _MACRO.sub(macro, sql)
