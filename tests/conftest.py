"""Shared fixtures: a real Kafka-protocol broker, found or started, a real PostgreSQL, and unique
namespaces.

The broker comes from GOVPULSE_KAFKA__BOOTSTRAP_SERVERS when something answers there (CI starts
one); otherwise the embedded Tansu broker is started on a free port. PostgreSQL comes from
GOVPULSE_DB__* (CI creates a role and database). When a service is missing, the tests that need
it are skipped with a reason that names it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Generator, Iterator

import pytest

from govpulse.broker import BrokerError, EmbeddedBroker, port_open
from govpulse.db.connection import DatabaseUnavailable, connect, one_line
from govpulse.db.migrate import drop_namespace, migrate
from govpulse.settings import EmbeddedBrokerSettings, KafkaSettings, Settings


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-timescaledb",
        action="store_true",
        help="fail, rather than skip, a `timescaledb` test whose extension is missing (CI's "
        "TimescaleDB run, where a skip would hide that the backend was not exercised)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if (
        report.skipped
        and item.get_closest_marker("timescaledb") is not None
        and item.config.getoption("--require-timescaledb")
    ):
        report.outcome = "failed"
        report.longrepr = f"skipped on a run that requires TimescaleDB: {report.longrepr}"
    return report


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    configured = os.environ.get("GOVPULSE_KAFKA__BOOTSTRAP_SERVERS")
    if configured:
        host, _, port = configured.split(",")[0].rpartition(":")
        if port_open(host, int(port)):
            yield configured
            return
    try:
        broker = EmbeddedBroker(EmbeddedBrokerSettings(port=_free_port())).start()
    except BrokerError as exc:
        pytest.skip(f"Kafka broker unavailable: nothing at {configured!r} and {exc}")
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=kafka_bootstrap, batch_events=50, linger_ms=20)


@pytest.fixture
def namespace() -> str:
    """A namespace no other test uses, so every test has topics of its own."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def pg_settings() -> Settings:
    """Settings from the environment (GOVPULSE_DB__*), once PostgreSQL is known to answer."""
    settings = Settings()
    try:
        with connect(settings.db):
            pass
    except DatabaseUnavailable as exc:
        reason = one_line(exc.__cause__ or exc, settings.db)
        pytest.skip(f"PostgreSQL unavailable at {settings.db.describe()}: {reason}")
    return settings


@pytest.fixture
def db_namespace(pg_settings: Settings, namespace: str) -> Iterator[str]:
    """A freshly migrated namespace of its own, dropped with all its data afterwards."""
    settings = pg_settings.model_copy(update={"namespace": namespace})
    migrate(settings)
    try:
        yield namespace
    finally:
        drop_namespace(settings, namespace)


@pytest.fixture
def stream_settings(kafka_settings: KafkaSettings, namespace: str) -> Iterator[Settings]:
    """A fresh, migrated namespace on the test broker and PostgreSQL, dropped afterwards."""
    import psycopg

    settings = Settings(namespace=namespace, kafka=kafka_settings)
    try:
        psycopg.connect(settings.db.conninfo(), connect_timeout=3).close()
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL unavailable at {settings.db.describe()}: {str(exc).strip()[:200]}")
    migrate(settings)
    yield settings
    drop_namespace(settings, namespace, force=True)
