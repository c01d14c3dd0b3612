"""Filling the shared `reference` tables from the packaged CSV files (through their loaders).

Called by the migration runner on every run, after the migrations. The CSV files are the source
of truth: rows are upserted with parameters and rows no longer in a file are deleted, in one
transaction, so dashboards never see a half-loaded table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from govpulse.reference.agencies import Agency, Scheme, all_agencies
from govpulse.reference.catalogues import ndxp_services, procedures

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ReferenceTable:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    # Rows are replaced per partition: agencies per scheme, the catalogues as a whole.
    partition: str | None = None


_AGENCY_COLUMNS = (
    "code", "scheme", "name_vi", "name_en", "level", "kind", "region", "lat", "lon", "weight",
    "merged_from",
)  # fmt: skip
AGENCIES = ReferenceTable(
    "agencies", columns=_AGENCY_COLUMNS, key=("scheme", "code"), partition="scheme"
)
NDXP_SERVICES = ReferenceTable(
    "ndxp_services",
    columns=("code", "name_vi", "name_en", "kind", "provider", "verification"),
    key=("code",),
)
PROCEDURES = ReferenceTable(
    "procedures",
    columns=("code", "name_vi", "name_en", "field", "level", "fee_vnd", "due_working_days"),
    key=("code",),
)


def agency_rows(scheme: Scheme) -> list[Row]:
    """Every agency of a scheme (ministries, provinces, other NDXP members); '' becomes NULL."""
    return [_agency_row(scheme, agency) for agency in all_agencies(scheme).values()]


def _agency_row(scheme: Scheme, a: Agency) -> Row:
    return (
        a.code, scheme.value, a.name_vi, a.name_en, a.level.value, a.kind or None,
        a.region or None, a.lat, a.lon, a.weight, list(a.merged_from),
    )  # fmt: skip


def service_rows() -> list[Row]:
    return [
        (s.code, s.name_vi, s.name_en, s.kind.value, s.provider, s.verification)
        for s in ndxp_services()
    ]


def procedure_rows() -> list[Row]:
    return [
        (p.code, p.name_vi, p.name_en, p.field, p.level, p.fee_vnd, p.due_working_days)
        for p in procedures()
    ]


def load_reference_data(conn: psycopg.Connection[TupleRow]) -> dict[str, int]:
    """Upsert every reference table; returns the number of rows each now holds from the files."""
    counts: dict[str, int] = {}
    with conn.transaction():
        for scheme in Scheme:
            rows = agency_rows(scheme)
            _replace(conn, AGENCIES, rows, partition_value=scheme.value)
            counts[f"agencies ({scheme.value})"] = len(rows)
        for table, rows in ((NDXP_SERVICES, service_rows()), (PROCEDURES, procedure_rows())):
            _replace(conn, table, rows)
            counts[table.name] = len(rows)
    return counts


def _replace(
    conn: psycopg.Connection[TupleRow],
    table: ReferenceTable,
    rows: Sequence[Row],
    partition_value: str | None = None,
) -> None:
    target = sql.Identifier("reference", table.name)
    updates = [c for c in table.columns if c not in table.key]
    upsert = sql.SQL(
        "INSERT INTO {target} ({columns}) VALUES ({values}) "
        "ON CONFLICT ({key}) DO UPDATE SET {updates}"
    ).format(
        target=target,
        columns=sql.SQL(", ").join(map(sql.Identifier, table.columns)),
        values=sql.SQL(", ").join(sql.Placeholder() * len(table.columns)),
        key=sql.SQL(", ").join(map(sql.Identifier, table.key)),
        updates=sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in updates
        ),
    )
    with conn.cursor() as cursor:
        cursor.executemany(upsert, rows)
        # A code dropped from a file must disappear, or dashboards would keep showing it.
        keys = [row[table.columns.index("code")] for row in rows]
        if table.partition is None:
            cursor.execute(
                sql.SQL("DELETE FROM {target} WHERE NOT (code = ANY(%s))").format(target=target),
                (keys,),
            )
        else:
            cursor.execute(
                sql.SQL("DELETE FROM {target} WHERE {part} = %s AND NOT (code = ANY(%s))").format(
                    target=target, part=sql.Identifier(table.partition)
                ),
                (partition_value, keys),
            )
