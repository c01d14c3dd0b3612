"""The read-only role dashboards use: `govpulse_reader` (NOLOGIN).

Called by the migration runner on every run, after the migrations, so objects added by new
migrations are covered too. Guarantees, when it reports `granted`: the role exists, has USAGE on
the namespace schema and `reference`, SELECT on every table and view there (and on tables the
migrating role creates there later), and EXECUTE on the histogram functions. It never grants
INSERT, UPDATE, DELETE or DDL.

The operator creates Grafana's login role once and makes it a member:

    CREATE ROLE grafana LOGIN PASSWORD '...';
    GRANT govpulse_reader TO grafana;

When the migrating role may not create roles (no CREATEROLE) and `govpulse_reader` does not
exist, a warning is logged and migration goes on: the data is there, dashboards wait for an
operator to create the role and run `govpulse db migrate` again.
"""

from __future__ import annotations

import logging
from enum import StrEnum

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from govpulse.db.connection import one_line

log = logging.getLogger(__name__)

READER_ROLE = "govpulse_reader"
REFERENCE_SCHEMA = "reference"


class ReaderRole(StrEnum):
    GRANTED = "granted"
    MISSING = "missing"  # could not be created: no CREATEROLE


def grant_reader(conn: psycopg.Connection[TupleRow], namespace: str) -> ReaderRole:
    """Create the reader role if needed and (re)grant it read access to the namespace."""
    if not _ensure_role(conn):
        return ReaderRole.MISSING
    role = sql.Identifier(READER_ROLE)
    schemas = sql.SQL(", ").join([sql.Identifier(namespace), sql.Identifier(REFERENCE_SCHEMA)])
    statements = (
        "GRANT USAGE ON SCHEMA {schemas} TO {role}",
        "GRANT SELECT ON ALL TABLES IN SCHEMA {schemas} TO {role}",
        "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {reference} TO {role}",
        # Objects this role creates later (new migrations, continuous aggregates) stay readable.
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schemas} GRANT SELECT ON TABLES TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {reference} GRANT EXECUTE ON FUNCTIONS TO {role}",
    )
    with conn.transaction():
        for statement in statements:
            conn.execute(
                sql.SQL(statement).format(
                    schemas=schemas, role=role, reference=sql.Identifier(REFERENCE_SCHEMA)
                )
            )
    return ReaderRole.GRANTED


def _ensure_role(conn: psycopg.Connection[TupleRow]) -> bool:
    if _role_exists(conn):
        return True
    try:
        with conn.transaction():
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(READER_ROLE)))
    except psycopg.errors.DuplicateObject:
        return True  # another migration created it at the same moment
    except psycopg.errors.InsufficientPrivilege as exc:
        log.warning(
            "read-only role %s does not exist and this database user may not create it (%s); "
            "dashboards cannot read until an operator runs `CREATE ROLE %s NOLOGIN` and "
            "`govpulse db migrate` again",
            READER_ROLE,
            one_line(exc),
            READER_ROLE,
        )
        return False
    return True


def _role_exists(conn: psycopg.Connection[TupleRow]) -> bool:
    row = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER_ROLE,)).fetchone()
    return row is not None
