"""What a namespace stored for a month, read from its daily rollups.

Called once per report. `read_month` runs a few parameterised queries on the `*_daily` views
(Vietnam days; continuous aggregates with real-time aggregation on TimescaleDB, plain views
otherwise, the same names and columns on both) and the `reference` schema, and returns plain rows
grouped by day and the dimensions the report needs. It never writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, LiteralString
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from govpulse.db.roles import REFERENCE_SCHEMA

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
# The report's figures are of 2024, when there were 63 provinces; ministries are in both schemes.
AGENCY_SCHEME = "2024"

Connection = psycopg.Connection[TupleRow]


@dataclass(frozen=True, slots=True)
class DossierRow:
    """Dossiers submitted on one day at one agency through one channel in one mode."""

    day: date
    agency: str
    channel: str
    mode: str
    submitted: int
    digitised: int
    data_reused: int


@dataclass(frozen=True, slots=True)
class PaymentRow:
    day: date
    status: str
    payments: int
    amount_vnd: int


@dataclass(frozen=True, slots=True)
class NdxpRow:
    day: date
    service: str
    result: str
    calls: int


@dataclass(frozen=True, slots=True)
class DocumentRow:
    day: date
    action: str
    delivery_status: str
    documents: int


@dataclass(frozen=True, slots=True)
class IncidentRow:
    day: date
    stage: str
    events: int


@dataclass(frozen=True, slots=True)
class AgencyInfo:
    code: str
    name_vi: str
    name_en: str
    level: str  # ministry | province | other


@dataclass(frozen=True)
class MonthData:
    """Everything the report computes from, for [start, end) in event time."""

    start: datetime
    end: datetime
    dossiers: tuple[DossierRow, ...]
    payments: tuple[PaymentRow, ...]
    ndxp: tuple[NdxpRow, ...]
    ndxp_agencies: int  # distinct consumer agencies with at least one call
    documents: tuple[DocumentRow, ...]
    incidents: tuple[IncidentRow, ...]
    agencies: dict[str, AgencyInfo]


def read_month(conn: Connection, namespace: str, start: datetime, end: datetime) -> MonthData:
    """The month's rows of every daily rollup the report uses (`psycopg.errors.UndefinedTable`
    when the namespace has not been migrated)."""
    schema = sql.Identifier(namespace)
    window = {"start": start, "end": end}

    def rows(query: LiteralString) -> Sequence[TupleRow]:
        return conn.execute(sql.SQL(query).format(schema=schema), window).fetchall()

    dossiers = rows(
        "SELECT bucket, agency, channel, mode, sum(events), sum(digitised), sum(data_reused) "
        "FROM {schema}.dossier_minute_daily WHERE status = 'submitted' "
        "AND bucket >= %(start)s AND bucket < %(end)s GROUP BY 1, 2, 3, 4"
    )
    payments = rows(
        "SELECT bucket, status, sum(payments), sum(amount_vnd) FROM {schema}.payment_minute_daily "
        "WHERE bucket >= %(start)s AND bucket < %(end)s GROUP BY 1, 2"
    )
    ndxp = rows(
        "SELECT bucket, service, result, sum(calls) FROM {schema}.ndxp_minute_daily "
        "WHERE bucket >= %(start)s AND bucket < %(end)s GROUP BY 1, 2, 3"
    )
    ((ndxp_agencies,),) = rows(
        "SELECT count(DISTINCT agency) FROM {schema}.ndxp_minute_daily "
        "WHERE bucket >= %(start)s AND bucket < %(end)s"
    )
    documents = rows(
        "SELECT bucket, action, delivery_status, sum(documents) "
        "FROM {schema}.document_minute_daily "
        "WHERE bucket >= %(start)s AND bucket < %(end)s GROUP BY 1, 2, 3"
    )
    incidents = rows(
        "SELECT bucket, stage, sum(events) FROM {schema}.incident_minute_daily "
        "WHERE bucket >= %(start)s AND bucket < %(end)s GROUP BY 1, 2"
    )
    return MonthData(
        start=start,
        end=end,
        dossiers=tuple(DossierRow(_day(r[0]), *r[1:4], *_ints(r[4:])) for r in dossiers),
        payments=tuple(PaymentRow(_day(r[0]), r[1], *_ints(r[2:])) for r in payments),
        ndxp=tuple(NdxpRow(_day(r[0]), r[1], r[2], int(r[3])) for r in ndxp),
        ndxp_agencies=int(ndxp_agencies),
        documents=tuple(DocumentRow(_day(r[0]), r[1], r[2], int(r[3])) for r in documents),
        incidents=tuple(IncidentRow(_day(r[0]), r[1], int(r[2])) for r in incidents),
        agencies=_agencies(conn),
    )


def _agencies(conn: Connection) -> dict[str, AgencyInfo]:
    query = sql.SQL(
        "SELECT code, name_vi, name_en, level FROM {reference}.agencies WHERE scheme = %s"
    ).format(reference=sql.Identifier(REFERENCE_SCHEMA))
    return {
        code: AgencyInfo(code, name_vi, name_en, level)
        for code, name_vi, name_en, level in conn.execute(query, (AGENCY_SCHEME,)).fetchall()
    }


def _day(bucket: datetime) -> date:
    # Daily buckets start at Vietnam midnight; the session's time zone must not shift the date.
    return bucket.astimezone(VIETNAM).date()


def _ints(values: Sequence[Any]) -> list[int]:
    return [int(v) for v in values]
