"""Applying the SQL migrations to a namespace: `govpulse db migrate` and the test fixtures call it.

`migrate(settings)` guarantees, when it returns:
- schemas `reference` and `<namespace>` exist; the timescaledb extension is installed if the
  server offers it, preloads it, and this user may install it; otherwise the plain variant is used
  and the report's `timescaledb_note` says in one line why and what to set (never a traceback);
- every migration file applicable to this database is recorded in `<namespace>.schema_migrations`,
  each applied in its own transaction (a failure leaves earlier ones applied and raises
  `MigrationError` naming the file);
- the `reference` tables match the packaged CSV files; the read-only role can read the namespace.
- with TimescaleDB, the database's job scheduler is running, or `scheduler` says it is not (a
  superuser's migration restarts a dead one; another role cannot, and the note says so).
A second run applies nothing and only refreshes reference data and grants. Runs are serialised
by an advisory lock, because namespaces share the `reference` schema.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from govpulse.db.connection import DatabaseUnavailable, connect, one_line, schema_identifier
from govpulse.db.migration_files import Migration, MigrationError, applicable, discover
from govpulse.db.reference_data import load_reference_data
from govpulse.db.roles import REFERENCE_SCHEMA, ReaderRole, grant_reader
from govpulse.db.scheduler import Job, namespace_jobs, restart_scheduler, scheduler_alive
from govpulse.settings import Settings

log = logging.getLogger(__name__)

TRACKING_TABLE = "schema_migrations"
LIVE_NAMESPACE = "live"
_LOCK_KEY = 0x676F7670756C7365  # "govpulse" in ASCII: one lock for every govpulse migrator
# The loader library defines its settings only when it is preloaded, for any role to see (the
# shared_preload_libraries setting itself is visible to superusers only).
_PRELOADED = "SELECT 1 FROM pg_settings WHERE name = 'timescaledb.max_background_workers'"


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    version: str
    variant: str
    file_name: str


@dataclass(frozen=True, slots=True)
class MigrationReport:
    namespace: str
    timescaledb: str | None  # the extension's version, or None on plain PostgreSQL
    applied: tuple[AppliedMigration, ...]  # in this run; empty when already up to date
    reference_rows: tuple[tuple[str, int], ...]
    reader_role: ReaderRole
    # One line for the operator when the server offers timescaledb but this run could not use it.
    timescaledb_note: str | None = None
    scheduler_alive: bool | None = None  # None on plain PostgreSQL


@dataclass(frozen=True, slots=True)
class MigrationRecord:
    version: str
    variant: str
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    namespace: str
    timescaledb: str | None
    applied: tuple[MigrationRecord, ...]
    pending: tuple[str, ...]  # file names, in the order `migrate` would apply them
    jobs: tuple[Job, ...] = ()  # TimescaleDB's policy jobs on the namespace's relations
    scheduler_alive: bool | None = None  # None on plain PostgreSQL


def migrate(settings: Settings, *, until: str | None = None) -> MigrationReport:
    """Bring `settings.namespace` up to date; see the module docstring for the guarantees.

    `until` (a version such as `0005_alerts`) stops after that migration, for staged upgrades and
    for tests that look at the database between two files.
    """
    namespace = settings.namespace
    with connect(settings.db, autocommit=True) as conn:
        _quiet(conn)
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            for schema in (REFERENCE_SCHEMA, namespace):
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema_identifier(schema))
                )
            extension, note = _ensure_timescaledb(conn, settings)
            _create_tracking_table(conn, namespace)
            done = {record.version for record in _applied(conn, namespace)}
            applied = tuple(
                _apply(conn, namespace, migration, extension)
                for migration in applicable(discover(), extension is not None)
                if migration.version not in done and (until is None or migration.version <= until)
            )
            rows = load_reference_data(conn)
            role = grant_reader(conn, namespace)
            alive = _check_scheduler(conn) if extension else None
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    if alive is False and note is None:
        note = (
            "the TimescaleDB job scheduler of this database is not running, so no policy runs; "
            "a superuser can start it: SELECT _timescaledb_functions.start_background_workers()"
        )
    return MigrationReport(
        namespace=namespace,
        timescaledb=extension[0] if extension else None,
        applied=applied,
        reference_rows=tuple(rows.items()),
        reader_role=role,
        timescaledb_note=note,
        scheduler_alive=alive,
    )


def status(settings: Settings) -> MigrationStatus:
    """What is applied and what `migrate` would apply; changes nothing."""
    namespace = settings.namespace
    with connect(settings.db, autocommit=True) as conn:
        extension = _installed_timescaledb(conn)
        records = _applied(conn, namespace) if _has_tracking_table(conn, namespace) else ()
        jobs = tuple(namespace_jobs(conn, namespace)) if extension else ()
        alive = scheduler_alive(conn) if extension else None
    done = {record.version for record in records}
    pending = tuple(
        m.file_name for m in applicable(discover(), extension is not None) if m.version not in done
    )
    return MigrationStatus(
        namespace, extension[0] if extension else None, records, pending, jobs, alive
    )


def list_namespaces(settings: Settings) -> list[str]:
    """Schemas that hold a `schema_migrations` table, i.e. migrated namespaces, sorted."""
    with connect(settings.db, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = %s AND c.relkind IN ('r', 'p') ORDER BY 1",
            (TRACKING_TABLE,),
        ).fetchall()
    return [row[0] for row in rows]


def drop_namespace(settings: Settings, name: str, *, force: bool = False) -> bool:
    """Drop a migrated namespace and everything in it; False when it does not exist.

    Refuses `live` unless `force`, and any schema that is not a govpulse namespace (such as
    `reference` or `public`), so a typo cannot destroy shared data.
    """
    if name == LIVE_NAMESPACE and not force:
        raise ValueError("refusing to drop the live namespace (pass force=True / --force)")
    if name not in list_namespaces(settings):
        with connect(settings.db, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,))
            if exists.fetchone() is not None:
                raise ValueError(f"schema {name!r} is not a govpulse namespace; not dropping it")
        return False
    with connect(settings.db, autocommit=True) as conn:
        _quiet(conn)
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(schema_identifier(name)))
    log.info("dropped namespace %s", name)
    return True


def _quiet(conn: psycopg.Connection[TupleRow]) -> None:
    # "already exists, skipping" notices are expected on every run; warnings still matter
    # (TimescaleDB's among them), so they go to the log instead of being lost.
    conn.execute("SET client_min_messages TO warning")
    conn.add_notice_handler(
        lambda diag: log.warning("PostgreSQL: %s", diag.message_primary or "(no message)")
    )


def _ensure_timescaledb(
    conn: psycopg.Connection[TupleRow], settings: Settings
) -> tuple[tuple[str, str] | None, str | None]:
    """(version, schema) of timescaledb once installed if possible, None for plain PostgreSQL;
    and a one-line note when the server offers the extension but it cannot be used."""
    installed = _installed_timescaledb(conn)
    if installed is not None:
        return installed, None
    offered = conn.execute(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    if offered is None:
        return None, None
    plain = "this namespace is migrated for plain PostgreSQL"
    if conn.execute(_PRELOADED).fetchone() is None:
        # CREATE EXTENSION would end the session with a FATAL error: say what to set instead.
        return None, (
            f"timescaledb {offered[0]} is installed on the server but not preloaded: set "
            f"shared_preload_libraries = 'timescaledb' in postgresql.conf and restart "
            f"PostgreSQL to use it; {plain}"
        )
    try:
        # Its own session, so that an error which ends it cannot end the migration's.
        with connect(settings.db, autocommit=True) as attempt:
            attempt.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except (psycopg.Error, DatabaseUnavailable) as exc:
        # Typically: this role may not create it (not the database owner).
        return None, f"timescaledb {offered[0]} could not be installed ({one_line(exc)}); {plain}"
    return _installed_timescaledb(conn), None


def _check_scheduler(conn: psycopg.Connection[TupleRow]) -> bool:
    """Whether the job scheduler runs, after asking for a start when it does not.

    Right after CREATE EXTENSION the launcher may not have started it yet: a short wait first.
    """
    for _ in range(20):
        if scheduler_alive(conn):
            return True
        time.sleep(0.1)
    if restart_scheduler(conn):
        time.sleep(0.5)
    return scheduler_alive(conn)


def _installed_timescaledb(conn: psycopg.Connection[TupleRow]) -> tuple[str, str] | None:
    row = conn.execute(
        "SELECT e.extversion, n.nspname FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'timescaledb'"
    ).fetchone()
    return (row[0], row[1]) if row else None


def _tracking(namespace: str) -> sql.Identifier:
    return sql.Identifier(namespace, TRACKING_TABLE)


def _create_tracking_table(conn: psycopg.Connection[TupleRow], namespace: str) -> None:
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (version text PRIMARY KEY, variant text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        ).format(_tracking(namespace))
    )


def _has_tracking_table(conn: psycopg.Connection[TupleRow], namespace: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        (namespace, TRACKING_TABLE),
    ).fetchone()
    return row is not None


def _applied(conn: psycopg.Connection[TupleRow], namespace: str) -> tuple[MigrationRecord, ...]:
    rows = conn.execute(
        sql.SQL("SELECT version, variant, applied_at FROM {} ORDER BY version").format(
            _tracking(namespace)
        )
    ).fetchall()
    return tuple(MigrationRecord(*row) for row in rows)


def _apply(
    conn: psycopg.Connection[TupleRow],
    namespace: str,
    migration: Migration,
    extension: tuple[str, str] | None,
) -> AppliedMigration:
    schemas = [namespace, REFERENCE_SCHEMA, "public"]
    if extension is not None and extension[1] not in schemas:
        schemas.append(extension[1])  # timescaledb's functions, wherever it was installed
    search_path = sql.SQL("SET LOCAL search_path TO {}").format(
        sql.SQL(", ").join(map(schema_identifier, schemas))
    )
    try:
        with conn.transaction():
            conn.execute(search_path)
            # Bytes: the file is sent as is (several statements, simple query protocol).
            conn.execute(migration.read_sql().encode("utf-8"))
            conn.execute(
                sql.SQL("INSERT INTO {} (version, variant) VALUES (%s, %s)").format(
                    _tracking(namespace)
                ),
                (migration.version, migration.variant.value),
            )
    except psycopg.Error as exc:
        raise MigrationError(
            f"migration {migration.file_name} failed in namespace {namespace}: {one_line(exc)}"
        ) from exc
    log.debug("applied %s to namespace %s", migration.file_name, namespace)
    return AppliedMigration(migration.version, migration.variant.value, migration.file_name)
