"""The registry of named measures alert rules compare with thresholds.

Each measure is parameterised SQL over the namespace's 1-minute tables that returns one row per
group (the rule's `group_by` labels, as text) and a `value` column. The evaluator binds the
evaluation time as `%(now)s` (a minute boundary) and the rule's parameters by name; the Grafana
export inlines them as literals with `date_trunc('minute', now())` instead. Identifiers go through
`psycopg.sql`, values never enter the text.

Windows are the complete minutes before the evaluation time: `now - window <= bucket < now`. A
still filling minute never counts, and neither does anything after `now`, so a value depends
only on the evaluation time and the data of the minutes before it: evaluated live at the wall
clock or in a replay at the event time its data has reached, a rule sees the same values and
makes the same transitions at the same times (design.md, "Alerting").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from govpulse.db.tables import AGGREGATE_TABLES

# The column that counts events in each minute table, for absence.
EVENT_COUNTS: dict[str, str] = {
    "portal.dossiers": "events",
    "portal.payments": "payments",
    "ndxp.transactions": "calls",
    "cyber.incidents": "events",
    "vdxp.documents": "documents",
}


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class QueryContext:
    """What a measure's SQL is built from: schema, grouping and how values are bound."""

    schema: str
    group_by: tuple[str, ...]
    params: Params
    literal: bool = False  # inline values (Grafana export) instead of named placeholders

    def p(self, name: str) -> sql.Composable:
        if self.literal:
            return sql.Literal(getattr(self.params, name))
        return sql.Placeholder(name)

    @property
    def now(self) -> sql.Composable:
        return (
            sql.SQL("date_trunc('minute', now())")
            if self.literal
            else sql.SQL("{}::timestamptz").format(sql.Placeholder("now"))
        )

    def table(self, feed: str) -> sql.Identifier:
        return sql.Identifier(self.schema, AGGREGATE_TABLES[feed].name)

    def window(self, minutes: sql.Composable) -> sql.Composed:
        return sql.SQL("bucket >= {now} - make_interval(mins => {m}) AND bucket < {now}").format(
            now=self.now, m=minutes
        )

    def labels(self) -> sql.Composed:
        """`col::text AS col, ` for each label (nothing when ungrouped)."""
        return sql.SQL("").join(
            sql.SQL("{c}::text AS {c}, ").format(c=sql.Identifier(label)) for label in self.group_by
        )

    def group(self) -> sql.Composed:
        columns = sql.SQL(", ").join(map(sql.Identifier, self.group_by))
        return sql.SQL("GROUP BY {}").format(columns if self.group_by else sql.SQL("()"))

    def values(self, now: datetime) -> dict[str, Any]:
        return {**self.params.model_dump(mode="json"), "now": now}


@dataclass(frozen=True)
class Measure:
    name: str
    description: str
    unit: Literal["ratio", "ms", "count", "minutes"]
    labels: tuple[str, ...]
    params: type[Params]
    build: Callable[[QueryContext], sql.Composed]
    fixed_labels: bool = False  # group_by must be exactly `labels`

    def validate_params(self, raw: dict[str, Any]) -> Params:
        try:
            return self.params.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "params"
            raise ValueError(f"{where}: {first['msg']}") from None

    def query(
        self, schema: str, group_by: tuple[str, ...], raw: dict[str, Any], literal: bool = False
    ) -> tuple[sql.Composed, QueryContext]:
        context = QueryContext(schema, group_by, self.validate_params(raw), literal)
        return self.build(context), context


# -- NDXP ------------------------------------------------------------------------------------


class NdxpErrorParams(Params):
    window_minutes: int = Field(default=5, ge=1, le=1440)
    min_calls: int = Field(default=20, ge=1)
    results: tuple[Literal["error", "timeout", "mismatch"], ...] = ("error", "timeout")


def _ndxp_error_rate(q: QueryContext) -> sql.Composed:
    return sql.SQL(
        "SELECT {labels}(sum(calls) FILTER (WHERE result = ANY({results})))::float8 / sum(calls) "
        "AS value FROM {table} WHERE {window} {group} HAVING sum(calls) >= {min_calls}"
    ).format(
        labels=q.labels(), results=_text_array(q, "results"), table=q.table("ndxp.transactions"),
        window=q.window(q.p("window_minutes")), group=q.group(), min_calls=q.p("min_calls"),
    )  # fmt: skip


class NdxpLatencyParams(Params):
    window_minutes: int = Field(default=5, ge=1, le=1440)
    min_calls: int = Field(default=20, ge=1)
    quantile: float = Field(default=0.95, gt=0, lt=1)


def _ndxp_latency(q: QueryContext) -> sql.Composed:
    return sql.SQL(
        "SELECT {labels}reference.histogram_quantile(reference.hist_merge(latency_hist), "
        "{quantile}::float8) AS value FROM {table} WHERE {window} {group} "
        "HAVING sum(calls) >= {min_calls}"
    ).format(
        labels=q.labels(), quantile=q.p("quantile"), table=q.table("ndxp.transactions"),
        window=q.window(q.p("window_minutes")), group=q.group(), min_calls=q.p("min_calls"),
    )  # fmt: skip


# -- Portal ----------------------------------------------------------------------------------


class OnTimeParams(Params):
    window_minutes: int = Field(default=60, ge=1, le=10_080)
    min_completions: int = Field(default=20, ge=1)
    # Only agencies of this level in the reference data (province, ministry, other); None: all.
    agency_level: Literal["province", "ministry", "other"] | None = "province"


def _on_time_rate(q: QueryContext) -> sql.Composed:
    level: sql.Composable = sql.SQL("")
    if cast(OnTimeParams, q.params).agency_level is not None:
        level = sql.SQL(
            " AND agency IN (SELECT code FROM reference.agencies WHERE level = {})"
        ).format(q.p("agency_level"))
    return sql.SQL(
        "SELECT {labels}sum(on_time)::float8 / sum(on_time + overdue) AS value FROM {table} "
        "WHERE {window}{level} {group} HAVING sum(on_time + overdue) >= {minimum}"
    ).format(
        labels=q.labels(), table=q.table("portal.dossiers"), window=q.window(q.p("window_minutes")),
        level=level, group=q.group(), minimum=q.p("min_completions"),
    )  # fmt: skip


# -- Documents -------------------------------------------------------------------------------


class DeliveryParams(Params):
    window_minutes: int = Field(default=15, ge=1, le=1440)
    min_receipts: int = Field(default=50, ge=1)


def _delivery_failure_rate(q: QueryContext) -> sql.Composed:
    return sql.SQL(
        "SELECT {labels}(sum(documents) FILTER (WHERE delivery_status = 'failed'))::float8 "
        "/ sum(documents) AS value FROM {table} WHERE action = 'receipt' AND {window} {group} "
        "HAVING sum(documents) >= {minimum}"
    ).format(
        labels=q.labels(), table=q.table("vdxp.documents"), window=q.window(q.p("window_minutes")),
        group=q.group(), minimum=q.p("min_receipts"),
    )  # fmt: skip


# -- Cyber -----------------------------------------------------------------------------------


class IncidentsParams(Params):
    window_minutes: int = Field(default=30, ge=1, le=10_080)
    severities: tuple[Literal["low", "medium", "high", "critical"], ...] = ("critical",)


def _incidents_detected(q: QueryContext) -> sql.Composed:
    return sql.SQL(
        "SELECT {labels}sum(events)::float8 AS value FROM {table} WHERE stage = 'detected' "
        "AND severity = ANY({severities}) AND {window} {group} HAVING sum(events) > 0"
    ).format(
        labels=q.labels(), table=q.table("cyber.incidents"),
        severities=_text_array(q, "severities"), window=q.window(q.p("window_minutes")),
        group=q.group(),
    )  # fmt: skip


class IncidentRateParams(Params):
    window_minutes: int = Field(default=60, ge=1, le=1440)
    # trailing: the mean of windows over the previous `baseline_hours`; same_hour: the mean of
    # the same window of the day over the previous `days` (daily rhythm taken into account).
    baseline: Literal["trailing", "same_hour"] = "trailing"
    baseline_hours: int = Field(default=24, ge=1, le=24 * 31)
    days: int = Field(default=7, ge=1, le=31)
    min_events: int = Field(default=3, ge=1)  # fewer in the window is no surge
    min_baseline: float = Field(default=0.5, gt=0)  # floor of the usual count, against x/0


def _incident_rate_ratio(q: QueryContext) -> sql.Composed:
    age = sql.SQL("extract(epoch FROM {now} - bucket)").format(now=q.now)
    # Complete minutes only: the newest bucket of the window is a minute old.
    recent = sql.SQL("{age} <= {w} * 60").format(age=age, w=q.p("window_minutes"))
    if cast(IncidentRateParams, q.params).baseline == "trailing":
        base = sql.SQL("{age} > {w} * 60").format(age=age, w=q.p("window_minutes"))
        periods = sql.SQL("({h} * 60.0 / {w})").format(
            h=q.p("baseline_hours"), w=q.p("window_minutes")
        )
        span = sql.SQL("{w} + {h} * 60").format(w=q.p("window_minutes"), h=q.p("baseline_hours"))
    else:
        base = sql.SQL(
            "{age} - 60 >= 86400 AND mod(({age})::bigint - 60, 86400) < {w} * 60"
        ).format(age=age, w=q.p("window_minutes"))
        periods = sql.SQL("{d}::float8").format(d=q.p("days"))
        span = sql.SQL("{d} * 1440 + {w}").format(d=q.p("days"), w=q.p("window_minutes"))
    return sql.SQL(
        "SELECT {labels}coalesce(sum(events) FILTER (WHERE {recent}), 0)::float8 / "
        "greatest(coalesce(sum(events) FILTER (WHERE {base}), 0) / {periods}, {floor}::float8) "
        "AS value FROM {table} WHERE stage = 'detected' AND {window} {group} "
        "HAVING coalesce(sum(events) FILTER (WHERE {recent}), 0) >= {min_events}"
    ).format(
        labels=q.labels(), recent=recent, base=base, periods=periods, floor=q.p("min_baseline"),
        table=q.table("cyber.incidents"), window=q.window(span), group=q.group(),
        min_events=q.p("min_events"),
    )  # fmt: skip


# -- Absence ---------------------------------------------------------------------------------


class SilenceParams(Params):
    # An agency "usually emits" when it sent at least `min_events` over the lookback. An agency
    # silent for longer than the lookback stops counting as usual, so keep it long.
    lookback_minutes: int = Field(default=1440, ge=30, le=10_080)
    min_events: int = Field(default=100, ge=1)
    feeds: tuple[str, ...] = tuple(EVENT_COUNTS)

    @field_validator("feeds")
    @classmethod
    def _known_feeds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [f for f in value if f not in EVENT_COUNTS]
        if unknown or not value:
            raise ValueError(f"{unknown or '[]'} invalid; valid feeds: {', '.join(EVENT_COUNTS)}")
        return value


def _agency_silence(q: QueryContext) -> sql.Composed:
    feeds = cast(SilenceParams, q.params).feeds
    window = q.window(q.p("lookback_minutes"))
    parts = [
        sql.SQL("SELECT bucket, agency, sum({n}) AS n FROM {table} WHERE {window} GROUP BY 1, 2")
        .format(n=sql.Identifier(EVENT_COUNTS[feed]), table=q.table(feed), window=window)
        for feed in feeds
    ]  # fmt: skip
    return sql.SQL(
        "WITH counts AS ({union}) SELECT agency::text AS agency, greatest(0, extract(epoch FROM "
        "{now} - (max(bucket) FILTER (WHERE n > 0) + interval '1 minute')) / 60.0)::float8 "
        "AS value FROM counts GROUP BY agency HAVING sum(n) >= {min_events}"
    ).format(union=sql.SQL(" UNION ALL ").join(parts), now=q.now, min_events=q.p("min_events"))


def _text_array(q: QueryContext, name: str) -> sql.Composable:
    if q.literal:
        return sql.SQL("ARRAY[{}]::text[]").format(
            sql.SQL(", ").join(sql.Literal(v) for v in getattr(q.params, name))
        )
    return sql.SQL("{}::text[]").format(sql.Placeholder(name))


MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure(
            "ndxp_error_rate", "share of NDXP calls that failed (error/timeout) over the window",
            "ratio", ("service", "provider", "agency"), NdxpErrorParams, _ndxp_error_rate,
        ),
        Measure(
            "ndxp_latency_quantile_ms", "NDXP latency quantile (default p95), merged histograms",
            "ms", ("service", "provider", "agency"), NdxpLatencyParams, _ndxp_latency,
        ),
        Measure(
            "on_time_rate", "share of dossiers completed on time over the window",
            "ratio", ("agency",), OnTimeParams, _on_time_rate,
        ),
        Measure(
            "document_delivery_failure_rate", "share of document deliveries that failed",
            "ratio", ("agency", "urgency"), DeliveryParams, _delivery_failure_rate,
        ),
        Measure(
            "incidents_detected", "incidents detected over the window (default: critical)",
            "count", ("agency", "category", "severity"), IncidentsParams, _incidents_detected,
        ),
        Measure(
            "incident_rate_ratio", "incidents detected in the window over the usual count",
            "ratio", ("agency", "category", "severity"), IncidentRateParams, _incident_rate_ratio,
        ),
        Measure(
            "agency_silence_minutes", "minutes since an agency that usually emits last emitted",
            "minutes", ("agency",), SilenceParams, _agency_silence, fixed_labels=True,
        ),
    )
}  # fmt: skip


class UnknownMeasureError(ValueError):
    pass


def measure(name: str) -> Measure:
    """A registered measure, or an error listing the valid names."""
    try:
        return MEASURES[name]
    except KeyError:
        raise UnknownMeasureError(
            f"unknown measure {name!r}; valid measures: {', '.join(sorted(MEASURES))}"
        ) from None
