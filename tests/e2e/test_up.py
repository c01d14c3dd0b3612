"""`govpulse up` on its own: embedded broker, migrations, worker and feeds fill the aggregates."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest

from govpulse.settings import Settings
from tests.pipeline_helpers import query, worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def up_settings(namespace: str) -> Iterator[Settings]:
    from govpulse.db.migrate import drop_namespace

    with socket.socket() as probe:  # a free port: `up` must start a broker of its own there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(namespace=namespace, kafka={"bootstrap_servers": f"127.0.0.1:{port}"})
    try:
        psycopg.connect(settings.db.conninfo(), connect_timeout=3).close()
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL unavailable at {settings.db.describe()}: {str(exc).strip()[:200]}")
    yield settings
    drop_namespace(settings, namespace, force=True)


def test_up_fills_the_aggregate_tables_within_seconds(up_settings: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "up", "--duration", "25", "--accelerate", "60"],
        env=worker_env(up_settings), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "started the embedded broker" in result.stdout
    assert "embedded broker stopped" in result.stdout
    calls = query(up_settings, "SELECT coalesce(sum(calls), 0) FROM ndxp_minute")[0][0]
    dossiers = query(up_settings, "SELECT coalesce(sum(events), 0) FROM dossier_minute")[0][0]
    health = query(up_settings, "SELECT count(DISTINCT feed) FROM pipeline_health")[0][0]
    assert calls > 1000 and dossiers > 0
    assert health == 5
