"""Against a real PostgreSQL: migrations create the contract's tables, rollups, helpers, reference
data and the read-only role; namespaces are isolated; the CLI reports an unreachable database in
one line. The TimescaleDB variant is checked where the extension exists (marked `timescaledb`)."""

from __future__ import annotations

import os
import random
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import SecretStr

from dashboards.variables import NARROW_ROLLUPS as VARIABLES_NARROW
from govpulse import histogram
from govpulse.db.connection import connect
from govpulse.db.migrate import drop_namespace, list_namespaces, migrate, status
from govpulse.db.migration_files import packaged_directory
from govpulse.db.roles import READER_ROLE, ReaderRole
from govpulse.db.tables import (
    AGGREGATE_TABLES,
    DOSSIER_MINUTE,
    INTEGER_DIMENSIONS,
    PIPELINE_HEALTH,
    PIPELINE_HEALTH_COLUMNS,
    RAW_EVENTS,
    AggregateTable,
)
from govpulse.settings import Settings

pytestmark = pytest.mark.postgres

Row = tuple[Any, ...]


def in_namespace(settings: Settings, namespace: str) -> Settings:
    return settings.model_copy(update={"namespace": namespace})


def query(
    settings: Settings, statement: sql.SQL | sql.Composed, params: Sequence[Any] = ()
) -> list[Row]:
    with connect(settings.db) as conn:
        return conn.execute(statement, params).fetchall()


def columns_of(settings: Settings, schema: str, table: str) -> list[Row]:
    return query(
        settings,
        sql.SQL(
            "SELECT column_name, data_type, udt_name, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position"
        ),
        (schema, table),
    )


def relation_columns(settings: Settings, schema: str, relation: str) -> list[str]:
    """Column names of any relation, materialized views included (information_schema omits them)."""
    rows = query(
        settings,
        sql.SQL(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        ),
        (sql.Identifier(schema, relation).as_string(),),
    )
    return [row[0] for row in rows]


def primary_key_of(settings: Settings, schema: str, table: str) -> list[str]:
    rows = query(
        settings,
        sql.SQL(
            "SELECT a.attname FROM pg_index i "
            "JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY k.n"
        ),
        (sql.Identifier(schema, table).as_string(),),
    )
    return [row[0] for row in rows]


def rollup_columns(table: AggregateTable) -> list[str]:
    return [*table.columns, "updated_at"]


@pytest.mark.parametrize("feed", sorted(AGGREGATE_TABLES))
def test_minute_tables_have_exactly_the_contract_columns_and_key(
    pg_settings: Settings, db_namespace: str, feed: str
) -> None:
    table = AGGREGATE_TABLES[feed]
    columns = columns_of(pg_settings, db_namespace, table.name)
    assert [c[0] for c in columns] == [*table.columns, "updated_at"]
    types = {
        name: (data_type, udt, nullable, default)
        for name, data_type, udt, nullable, default in columns
    }
    assert types["bucket"][:3] == ("timestamp with time zone", "timestamptz", "NO")
    for name in ("agency", *table.dimensions):
        expected = "int2" if name in INTEGER_DIMENSIONS else "text"
        assert types[name][1:3] == (expected, "NO"), name
    for name in table.measures:
        assert types[name][1:] == ("int8", "NO", "0"), name
    for name in table.histograms:
        assert types[name][1:3] == ("_int8", "NO"), name
    assert primary_key_of(pg_settings, db_namespace, table.name) == list(table.key)


def test_raw_events_and_pipeline_health_tables(pg_settings: Settings, db_namespace: str) -> None:
    health = columns_of(pg_settings, db_namespace, PIPELINE_HEALTH)
    assert tuple(c[0] for c in health) == PIPELINE_HEALTH_COLUMNS
    assert primary_key_of(pg_settings, db_namespace, PIPELINE_HEALTH) == [
        "bucket",
        "feed",
        "worker",
    ]
    raw = columns_of(pg_settings, db_namespace, RAW_EVENTS)
    assert [(c[0], c[2]) for c in raw] == [
        ("occurred_at", "timestamptz"),
        ("feed", "text"),
        ("agency", "text"),
        ("event_id", "uuid"),
        ("payload", "jsonb"),
        ("ingested_at", "timestamptz"),
    ]
    assert primary_key_of(pg_settings, db_namespace, RAW_EVENTS) == [
        "feed",
        "agency",
        "occurred_at",
        "event_id",
    ]


def test_the_archive_has_one_index_and_drill_down_reads_it(
    pg_settings: Settings, db_namespace: str
) -> None:
    """Each index costs every archived event; the key alone serves drill-down (0040)."""
    indexes = query(
        pg_settings,
        sql.SQL("SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s"),
        (db_namespace, RAW_EVENTS),
    )
    assert [row[0] for row in indexes] == ["raw_events_pkey"]
    drill_down = sql.SQL(
        "EXPLAIN SELECT occurred_at, agency, payload->>'stage' FROM {raw} "
        "WHERE feed = 'cyber.incidents' AND occurred_at BETWEEN %s AND %s "
        "AND agency IN ('BCA', 'BTC') ORDER BY occurred_at DESC LIMIT 200"
    ).format(raw=sql.Identifier(db_namespace, RAW_EVENTS))
    now = datetime.now(UTC)
    with connect(pg_settings.db) as conn:
        # One event, so that TimescaleDB has a chunk to plan for.
        conn.execute(
            sql.SQL(
                "INSERT INTO {raw} (occurred_at, feed, agency, event_id, payload) "
                "VALUES (%s, 'cyber.incidents', 'BCA', %s, '{{}}')"
            ).format(raw=sql.Identifier(db_namespace, RAW_EVENTS)),
            (now - timedelta(hours=1), uuid.uuid4()),
        )
        conn.execute("SET enable_seqscan = off")  # a table this small would be scanned otherwise
        rows = conn.execute(drill_down, (now - timedelta(hours=6), now)).fetchall()
    plan = "\n".join(row[0] for row in rows)
    assert "raw_events_pkey" in plan and "Seq Scan" not in plan, plan


def test_second_migrate_applies_nothing(pg_settings: Settings, db_namespace: str) -> None:
    settings = in_namespace(pg_settings, db_namespace)
    report = migrate(settings)
    assert report.applied == ()
    assert report.reader_role in (ReaderRole.GRANTED, ReaderRole.MISSING)
    current = status(settings)
    assert current.pending == ()
    assert [r.version for r in current.applied] == sorted(r.version for r in current.applied)
    assert len(current.applied) >= 4


@pytest.mark.parametrize("feed", sorted(AGGREGATE_TABLES))
def test_rollups_exist_with_the_minute_tables_columns(
    pg_settings: Settings, db_namespace: str, feed: str
) -> None:
    table = AGGREGATE_TABLES[feed]
    for suffix in ("hourly", "daily"):
        columns = columns_of(pg_settings, db_namespace, f"{table.name}_{suffix}")
        assert [c[0] for c in columns] == rollup_columns(table), suffix
        measure_types = {c[0]: c[2] for c in columns if c[0] in table.measures}
        assert set(measure_types.values()) == {"int8"}


def insert(settings: Settings, namespace: str, table: str, rows: Sequence[dict[str, Any]]) -> None:
    columns = list(rows[0])
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(namespace, table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    with connect(settings.db) as conn, conn.cursor() as cursor:
        cursor.executemany(statement, [tuple(row[c] for c in columns) for row in rows])


def ndxp_sample() -> tuple[list[dict[str, Any]], list[Row], list[Row]]:
    """Minute rows around a Vietnam midnight, and the hourly and daily rows they roll up to."""
    # 16:59 UTC is 23:59 on 1 October in Vietnam; 17:00 and 17:30 UTC are on 2 October.
    minutes = [datetime(2024, 10, 1, 16, 59, tzinfo=UTC), datetime(2024, 10, 1, 17, 0, tzinfo=UTC)]
    minutes.append(minutes[1] + timedelta(minutes=30))
    hists = [histogram.empty() for _ in minutes]
    for index, hist in enumerate(hists):
        hist[index] = 2
        hist[-1] = index
    key = {"agency": "01", "service": "population_identity", "provider": "BCA", "result": "ok"}
    rows = [
        key | {"bucket": m, "calls": 10 * (i + 1), "latency_ms_sum": 100 * (i + 1),
               "bytes_sum": 7, "latency_hist": hists[i]}
        for i, m in enumerate(minutes)
    ]  # fmt: skip
    hourly = [
        (datetime(2024, 10, 1, 16, tzinfo=UTC), 10, 100, 7, hists[0]),
        (datetime(2024, 10, 1, 17, tzinfo=UTC), 50, 500, 14, histogram.merge(hists[1:])),
    ]
    # Vietnam days start at 17:00 UTC the day before.
    daily = [
        (datetime(2024, 9, 30, 17, tzinfo=UTC), 10, 100, 7, hists[0]),
        (datetime(2024, 10, 1, 17, tzinfo=UTC), 50, 500, 14, histogram.merge(hists[1:])),
    ]
    return rows, hourly, daily


def ndxp_rollup(settings: Settings, namespace: str, suffix: str) -> list[Row]:
    return query(
        settings,
        sql.SQL(
            "SELECT bucket, calls, latency_ms_sum, bytes_sum, latency_hist FROM {} ORDER BY bucket"
        ).format(sql.Identifier(namespace, f"ndxp_minute_{suffix}")),
    )


def test_rollups_sum_measures_and_merge_histograms(
    pg_settings: Settings, db_namespace: str
) -> None:
    rows, hourly, daily = ndxp_sample()
    insert(pg_settings, db_namespace, "ndxp_minute", rows)
    assert ndxp_rollup(pg_settings, db_namespace, "hourly") == hourly
    assert ndxp_rollup(pg_settings, db_namespace, "daily") == daily


def sample_histograms() -> list[list[int]]:
    rng = random.Random(7)
    samples = [histogram.empty(), [0] * 15 + [5], [3] + [0] * 15, [0] * 7 + [1] + [0] * 8]
    for _ in range(40):
        hist = histogram.empty()
        for _ in range(rng.randint(1, 500)):
            hist[histogram.bucket_of(rng.lognormvariate(5, 1.5))] += 1
        samples.append(hist)
    return samples


def test_histogram_quantile_in_sql_equals_python(pg_settings: Settings, db_namespace: str) -> None:
    quantiles = [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0]
    cases = [(h, q) for h in sample_histograms() for q in quantiles]
    with connect(pg_settings.db) as conn:
        found = conn.execute(
            "SELECT reference.histogram_quantile(h::bigint[], q) "
            "FROM jsonb_to_recordset(%s::jsonb) AS t(n int, h text, q double precision) ORDER BY n",
            (Jsonb(
                [{"n": n, "h": "{" + ",".join(map(str, h)) + "}", "q": q}
                 for n, (h, q) in enumerate(cases)]
            ),),
        ).fetchall()  # fmt: skip
    assert [row[0] for row in found] == [histogram.quantile(h, q) for h, q in cases]


def test_hist_merge_and_hist_add(pg_settings: Settings, db_namespace: str) -> None:
    samples = sample_histograms()
    with connect(pg_settings.db) as conn:
        merged = conn.execute(
            "SELECT reference.hist_merge(h) FROM (SELECT NULL::bigint[] AS h WHERE false) AS t"
        ).fetchone()
        assert merged == (None,)
        merged = conn.execute(
            "SELECT reference.hist_merge(h) FROM (SELECT %s::bigint[] AS h UNION ALL "
            "SELECT %s::bigint[] UNION ALL SELECT NULL::bigint[]) t",
            (samples[4], samples[5]),
        ).fetchone()
        assert merged == (histogram.merge(samples[4:6]),)
        added = conn.execute(
            "SELECT reference.hist_add(NULL, %s::bigint[]), "
            "reference.hist_add(%s::bigint[], NULL), "
            "reference.hist_add('{1,2}'::bigint[], '{1,NULL,3}'::bigint[])",
            (samples[4], samples[4]),
        ).fetchone()
        assert added == (samples[4], samples[4], [2, 2, 3])


def test_reference_data_is_loaded(pg_settings: Settings, db_namespace: str) -> None:
    by_level = dict(
        ((scheme, level), count)
        for scheme, level, count in query(
            pg_settings,
            sql.SQL("SELECT scheme, level, count(*) FROM reference.agencies GROUP BY 1, 2"),
        )
    )
    assert sum(n for (scheme, _), n in by_level.items() if scheme == "2024") == 103
    assert by_level[("2025", "province")] == 34
    assert by_level[("2025", "ministry")] == 20
    assert by_level[("2025", "other")] == 20
    assert query(pg_settings, sql.SQL("SELECT count(*) FROM reference.ndxp_services")) == [(25,)]
    hanoi = query(
        pg_settings,
        sql.SQL("SELECT name_en, kind, lat IS NOT NULL FROM reference.agencies WHERE code = '01'"),
    )
    assert hanoi == [("Ha Noi", "city", True), ("Ha Noi", "city", True)]
    assert query(pg_settings, sql.SQL("SELECT count(*) > 0 FROM reference.procedures")) == [(True,)]


@pytest.fixture
def reader_login(pg_settings: Settings) -> Iterator[Settings]:
    """A temporary login role that is a member of govpulse_reader, like Grafana's."""
    name = f"t{uuid.uuid4().hex[:12]}_grafana"
    password = secrets.token_hex(16)
    try:
        with connect(pg_settings.db, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(password)
                )
            )
            conn.execute(
                sql.SQL("GRANT {} TO {}").format(sql.Identifier(READER_ROLE), sql.Identifier(name))
            )
    except psycopg.errors.InsufficientPrivilege as exc:
        pytest.skip(f"the test's database role may not create roles: {exc}")
    db = pg_settings.db.model_copy(update={"user": name, "password": SecretStr(password)})
    try:
        yield pg_settings.model_copy(update={"db": db})
    finally:
        with connect(pg_settings.db, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def test_reader_role_can_select_but_not_write(
    pg_settings: Settings, db_namespace: str, reader_login: Settings
) -> None:
    minute = datetime(2024, 10, 1, 8, tzinfo=UTC)
    insert(pg_settings, db_namespace, "payment_minute", [
        {"bucket": minute, "agency": "01", "payment_channel": "card", "status": "ok",
         "payments": 3, "amount_vnd": 150_000},
    ])  # fmt: skip
    with connect(reader_login.db) as conn:
        for relation in ("payment_minute", "payment_minute_hourly", "payment_minute_daily"):
            row = conn.execute(
                sql.SQL("SELECT sum(payments) FROM {}").format(
                    sql.Identifier(db_namespace, relation)
                )
            ).fetchone()
            assert row == (3,), relation
        assert conn.execute("SELECT count(*) > 0 FROM reference.agencies").fetchone() == (True,)
        assert conn.execute(
            "SELECT reference.histogram_quantile('{0,2}'::bigint[], 0.5)"
        ).fetchone() == (histogram.quantile([0, 2], 0.5),)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                sql.SQL("INSERT INTO {} (bucket, agency, payment_channel, status) "
                        "VALUES (now(), '01', 'card', 'ok')").format(
                    sql.Identifier(db_namespace, "payment_minute")
                )
            )  # fmt: skip
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM reference.agencies")


def test_namespaces_are_isolated(pg_settings: Settings, db_namespace: str) -> None:
    other = f"t{uuid.uuid4().hex[:12]}"
    other_settings = in_namespace(pg_settings, other)
    migrate(other_settings)
    try:
        insert(pg_settings, db_namespace, "incident_minute", [
            {"bucket": datetime(2024, 10, 1, 8, tzinfo=UTC), "agency": "01",
             "category": "malware", "severity": "high", "stage": "detected",
             "protection_level": 3, "events": 1},
        ])  # fmt: skip
        count = sql.SQL("SELECT count(*) FROM {}")
        assert query(
            pg_settings, count.format(sql.Identifier(db_namespace, "incident_minute"))
        ) == [(1,)]
        assert query(pg_settings, count.format(sql.Identifier(other, "incident_minute"))) == [(0,)]
        assert {db_namespace, other} <= set(list_namespaces(pg_settings))
    finally:
        assert drop_namespace(other_settings, other)
    assert other not in list_namespaces(pg_settings)


def test_drop_namespace_refuses_live_and_foreign_schemas(pg_settings: Settings) -> None:
    with pytest.raises(ValueError, match="live"):
        drop_namespace(pg_settings, "live")
    with pytest.raises(ValueError, match="not a govpulse namespace"):
        drop_namespace(pg_settings, "reference")


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "db", *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def db_env(settings: Settings) -> dict[str, str]:
    db = settings.db
    return {
        "GOVPULSE_DB__HOST": db.host,
        "GOVPULSE_DB__PORT": str(db.port),
        "GOVPULSE_DB__NAME": db.name,
        "GOVPULSE_DB__USER": db.user,
        "GOVPULSE_DB__PASSWORD": db.password.get_secret_value(),
    }


def test_cli_migrate_and_status(pg_settings: Settings, namespace: str) -> None:
    env = db_env(pg_settings)
    try:
        first = cli(env, "migrate", "--namespace", namespace)
        assert first.returncode == 0, first.stderr
        assert "applied  0001_histogram_functions.sql" in first.stdout
        assert "timescaledb" in first.stdout
        again = cli(env, "migrate", "--namespace", namespace)
        assert again.returncode == 0, again.stderr
        assert "applied " not in again.stdout and "up to date" in again.stdout
        shown = cli(env, "status", "--namespace", namespace)
        assert shown.returncode == 0 and "0003_minute_tables" in shown.stdout
        if status(in_namespace(pg_settings, namespace)).timescaledb is None:
            assert "timescaledb extension absent in this database" in shown.stdout
        else:
            assert "TimescaleDB job scheduler of this database: running" in shown.stdout
            assert f"no policy jobs on namespace {namespace}" in shown.stdout
    finally:
        drop_namespace(in_namespace(pg_settings, namespace), namespace)


def test_cli_migrate_says_in_one_line_that_timescaledb_is_not_preloaded(
    pg_settings: Settings, namespace: str
) -> None:
    # The server has the extension's files but does not preload it (CI's plain cluster after
    # install.sh): CREATE EXTENSION would end the session with a FATAL error.
    with connect(pg_settings.db) as conn:
        offered = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
        preloaded = conn.execute(
            "SELECT 1 FROM pg_settings WHERE name = 'timescaledb.max_background_workers'"
        ).fetchone()
    if offered is None or preloaded is not None:
        state = "not installed" if offered is None else "preloaded"
        pytest.skip(f"needs a PostgreSQL with timescaledb installed, not preloaded: it is {state}")
    try:
        result = cli(db_env(pg_settings), "migrate", "--namespace", namespace)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        said = [
            line
            for line in (result.stderr + result.stdout).splitlines()
            if "shared_preload_libraries" in line
        ]
        assert len(said) == 1, result.stderr + result.stdout
        assert "not preloaded" in said[0] and "restart" in said[0]
        assert "plain PostgreSQL" in said[0]
        assert "applied  0004_rollups.plain.sql" in result.stdout
        current = status(in_namespace(pg_settings, namespace))
        assert current.timescaledb is None and current.pending == ()
    finally:
        drop_namespace(in_namespace(pg_settings, namespace), namespace)


def test_cli_reports_an_unreachable_database_in_one_line() -> None:
    # Needs no server: nothing listens on port 1.
    password = "not-shown-" + secrets.token_hex(4)
    env = {
        "GOVPULSE_DB__HOST": "127.0.0.1",
        "GOVPULSE_DB__PORT": "1",
        "GOVPULSE_DB__PASSWORD": password,
    }
    result = cli(env, "migrate")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach PostgreSQL"), lines
    assert "postgresql://" in lines[0] and ":1/" in lines[0]
    assert password not in result.stderr + result.stdout


# TimescaleDB ---------------------------------------------------------------------------------

TIMESCALE_FILE = "0004_rollups.timescale.sql"
POLICIES_FILE = "0007_live_policies.timescale.sql"
HYPERTABLES = {*(t.name for t in AGGREGATE_TABLES.values()), RAW_EVENTS, PIPELINE_HEALTH}
ROLLUPS = {f"{t.name}_{s}" for t in AGGREGATE_TABLES.values() for s in ("hourly", "daily")}
# 0031 and 0032: the narrower rollups the dashboards read (dashboards.variables.NARROW_ROLLUPS).
NARROW_ROLLUPS = {f"{name}_{s}" for name in VARIABLES_NARROW for s in ("hourly", "daily")}


@pytest.fixture
def timescale_namespace(pg_settings: Settings, namespace: str) -> Iterator[str]:
    """A namespace migrated with the TimescaleDB variant, or a skip where it cannot be."""
    missing = f"timescaledb extension not installed in PostgreSQL at {pg_settings.db.host}"
    with connect(pg_settings.db) as conn:
        offered = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
    if offered is None:
        pytest.skip(missing)
    settings = in_namespace(pg_settings, namespace)
    report = migrate(settings)
    try:
        if report.timescaledb is None:
            pytest.skip(f"{missing}: {report.timescaledb_note}")
        assert any(m.file_name == TIMESCALE_FILE for m in report.applied)
        yield namespace
    finally:
        drop_namespace(settings, namespace)


@pytest.mark.timescaledb
def test_timescaledb_hypertables_rollups_and_policies(
    pg_settings: Settings, timescale_namespace: str
) -> None:
    ns = timescale_namespace
    hypertables = query(
        pg_settings,
        sql.SQL(
            "SELECT hypertable_name FROM timescaledb_information.hypertables "
            "WHERE hypertable_schema = %s"
        ),
        (ns,),
    )
    assert {row[0] for row in hypertables} == HYPERTABLES
    caggs = query(
        pg_settings,
        sql.SQL(
            "SELECT view_name, materialized_only "
            "FROM timescaledb_information.continuous_aggregates WHERE view_schema = %s"
        ),
        (ns,),
    )
    assert {row[0] for row in caggs} == ROLLUPS | NARROW_ROLLUPS
    assert not any(row[1] for row in caggs)
    jobs = query(
        pg_settings,
        sql.SQL(
            "SELECT j.proc_name, count(*) FROM timescaledb_information.jobs j "
            "WHERE (j.hypertable_schema, j.hypertable_name) IN ("
            " SELECT hypertable_schema, hypertable_name FROM timescaledb_information.hypertables"
            " WHERE hypertable_schema = %s UNION ALL"
            " SELECT materialization_hypertable_schema, materialization_hypertable_name"
            " FROM timescaledb_information.continuous_aggregates WHERE view_schema = %s) "
            "GROUP BY 1"
        ),
        (ns, ns),
    )
    # 0007 adds the time-based policies (its stub test counts the calls) to live only, whose data
    # is the only one that follows now(); tests/integration/test_timescale_policies.py checks live.
    assert dict(jobs) == {}
    # Real-time aggregation: nothing is materialized yet, the rollups still show the rows.
    rows, hourly, daily = ndxp_sample()
    insert(pg_settings, ns, "ndxp_minute", rows)
    assert ndxp_rollup(pg_settings, ns, "hourly") == hourly
    assert ndxp_rollup(pg_settings, ns, "daily") == daily
    for feed in AGGREGATE_TABLES:
        table = AGGREGATE_TABLES[feed]
        for suffix in ("hourly", "daily"):
            columns = relation_columns(pg_settings, ns, f"{table.name}_{suffix}")
            assert columns == rollup_columns(table)


# On either backend, the TimescaleDB files (0004, and 0007 which adds live's policies) also run
# against stand-ins for the five TimescaleDB functions they call (same names and argument names
# as the documented API), with the continuous-aggregate and compression options stripped. This
# catches SQL errors, wrong column names and wrong argument names; it cannot catch TimescaleDB's
# own restrictions.
STUB_API = """
CREATE TABLE {stub}.calls (fn text, relation text, detail text);
CREATE FUNCTION {stub}.create_hypertable(relation regclass, time_column_name name,
    chunk_time_interval interval DEFAULT NULL, if_not_exists boolean DEFAULT false,
    migrate_data boolean DEFAULT false) RETURNS void LANGUAGE sql
AS $$ INSERT INTO {stub}.calls VALUES ('create_hypertable', relation::text,
    time_column_name || ' ' || chunk_time_interval) $$;
CREATE FUNCTION {stub}.add_compression_policy(hypertable regclass, compress_after interval,
    if_not_exists boolean DEFAULT false) RETURNS void LANGUAGE sql
AS $$ INSERT INTO {stub}.calls VALUES ('compression', hypertable::text, compress_after) $$;
CREATE FUNCTION {stub}.add_retention_policy(relation regclass, drop_after interval,
    if_not_exists boolean DEFAULT false) RETURNS void LANGUAGE sql
AS $$ INSERT INTO {stub}.calls VALUES ('retention', relation::text, drop_after) $$;
CREATE FUNCTION {stub}.add_continuous_aggregate_policy(continuous_aggregate regclass,
    start_offset interval, end_offset interval, schedule_interval interval,
    if_not_exists boolean DEFAULT false) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- TimescaleDB refuses a refresh window smaller than two buckets.
    IF start_offset - end_offset < (CASE WHEN continuous_aggregate::text LIKE '%_daily'
            THEN interval '2 days' ELSE interval '2 hours' END) THEN
        RAISE EXCEPTION 'refresh window of % covers less than two buckets', continuous_aggregate;
    END IF;
    INSERT INTO {stub}.calls VALUES ('refresh', continuous_aggregate::text, schedule_interval);
END $$;
CREATE FUNCTION {stub}.time_bucket(bucket_width interval, ts timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin(bucket_width, ts, timestamptz '2000-01-03 00:00Z') $$;
CREATE FUNCTION {stub}.time_bucket(bucket_width interval, ts timestamptz, timezone text)
RETURNS timestamptz LANGUAGE sql IMMUTABLE
AS $$ SELECT date_bin(bucket_width, ts AT TIME ZONE timezone, timestamp '2000-01-03')
    AT TIME ZONE timezone $$;
"""


def strip_timescale_options(text: str, columns: dict[str, set[str]]) -> str:
    """The file without the options plain PostgreSQL rejects, after checking what they name."""
    caggs = re.findall(r"WITH \(timescaledb\.continuous([^)]*)\)", text)
    assert len(caggs) == len(ROLLUPS)
    assert all("timescaledb.materialized_only = false" in options for options in caggs)
    text = re.sub(r"WITH \(timescaledb\.continuous[^)]*\)", "", text)
    compressed = re.findall(r"ALTER TABLE (\w+) SET \((.*?)\);", text, flags=re.S)
    assert len(compressed) == 6
    for table, options in compressed:
        for listed in re.findall(r"compress_(?:segmentby|orderby) = '([^']*)'", options):
            named = {part.split()[0] for part in listed.split(",")}
            assert named <= columns[table], (table, named - columns[table])
    return re.sub(r"ALTER TABLE \w+ SET \(.*?\);", "", text, flags=re.S)


def test_timescale_migration_runs_against_a_stub_of_the_api(
    pg_settings: Settings, db_namespace: str
) -> None:
    # Its own schema of plain minute tables (0003) whatever the server: with the extension, the
    # namespace's tables are hypertables and its rollups continuous aggregates, which this
    # stripped file cannot recreate. The stub schema comes before `public` (where timescaledb's
    # functions are) in the search path, so the file's calls reach the stand-ins on both backends.
    scratch, stub = f"{db_namespace}_plain", f"{db_namespace}_stub"
    migrations = packaged_directory()
    text = (migrations / TIMESCALE_FILE).read_text(encoding="utf-8")
    # 0007 adds the policies to `live` only: the scratch schema stands in for it here.
    policies = (migrations / POLICIES_FILE).read_text(encoding="utf-8")
    assert policies.count("'live'") == 1
    rows, hourly, daily = ndxp_sample()
    with connect(pg_settings.db) as conn:
        try:
            for schema in (scratch, stub):
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            conn.execute(STUB_API.replace("{stub}", f'"{stub}"').encode())
            conn.execute(
                sql.SQL("SET LOCAL search_path TO {}, {}, reference, public").format(
                    sql.Identifier(scratch), sql.Identifier(stub)
                )
            )
            conn.execute((migrations / "0003_minute_tables.sql").read_text().encode())
            columns = {
                name: {c[0] for c in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s", (scratch, name),
                ).fetchall()}
                for name in HYPERTABLES
            }  # fmt: skip
            conn.execute(strip_timescale_options(text, columns).encode())
            conn.execute(policies.replace("'live'", f"'{scratch}'").encode())
            calls = conn.execute(
                sql.SQL("SELECT fn, count(*) FROM {} GROUP BY 1").format(
                    sql.Identifier(stub, "calls")
                )
            ).fetchall()
            assert dict(calls) == {
                "create_hypertable": 7,
                "compression": 6,
                "retention": 12,
                "refresh": 10,
            }
            conn.commit()
            insert(pg_settings, scratch, "ndxp_minute", rows)
            conn.execute(
                sql.SQL("SET search_path TO {}, reference, public").format(sql.Identifier(scratch))
            )
            for view in ROLLUPS:
                conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(sql.Identifier(view)))
            conn.commit()
            assert ndxp_rollup(pg_settings, scratch, "hourly") == hourly
            assert ndxp_rollup(pg_settings, scratch, "daily") == daily
            for table in AGGREGATE_TABLES.values():
                for suffix in ("hourly", "daily"):
                    found = relation_columns(pg_settings, scratch, f"{table.name}_{suffix}")
                    assert found == rollup_columns(table)
        finally:
            conn.rollback()
            for schema in (scratch, stub):
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
            conn.commit()


def test_a_namespace_migrated_before_the_hierarchical_rollups_converges(
    pg_settings: Settings, namespace: str
) -> None:
    # 0030 drops the daily rollups and builds them on the hourly ones; 0031 adds the headline
    # rollups. A namespace with data and materialized rollups from before must show the same
    # daily values right after migrating (real time from the hourly rollup) and once refreshed.
    settings = pg_settings.model_copy(update={"namespace": namespace})
    rows, hourly, daily = ndxp_sample()
    try:
        migrate(settings, until="0021_alert_progress")
        insert(pg_settings, namespace, "ndxp_minute", rows)
        timescale = refresh_all(pg_settings, namespace)
        assert ndxp_rollup(pg_settings, namespace, "daily") == daily
        migrate(settings)
        assert ndxp_rollup(pg_settings, namespace, "hourly") == hourly
        assert ndxp_rollup(pg_settings, namespace, "daily") == daily
        assert refresh_all(pg_settings, namespace) == timescale
        assert ndxp_rollup(pg_settings, namespace, "daily") == daily
        for suffix in ("hourly", "daily"):
            columns = relation_columns(pg_settings, namespace, f"dossier_headline_{suffix}")
            assert columns == [c for c in rollup_columns(DOSSIER_MINUTE) if c != "field"]
    finally:
        drop_namespace(settings, namespace)


def refresh_all(settings: Settings, namespace: str) -> bool:
    """Materialize every continuous aggregate of the namespace, parents first; False on plain
    PostgreSQL (nothing to refresh)."""
    with connect(settings.db, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
            return False
        views = conn.execute(
            "SELECT format('%%I.%%I', view_schema, view_name) "
            "FROM timescaledb_information.continuous_aggregates WHERE view_schema = %s "
            "ORDER BY substring(materialization_hypertable_name FROM '[0-9]+$')::integer",
            (namespace,),
        ).fetchall()
        for (view,) in views:
            conn.execute("CALL refresh_continuous_aggregate(%s::regclass, NULL, NULL)", (view,))
    return True
