"""Shared fixtures: a real Kafka-protocol broker, found or started, and unique namespaces.

The broker comes from GOVPULSE_KAFKA__BOOTSTRAP_SERVERS when something answers there (CI starts
one); otherwise the embedded Tansu broker is started on a free port. When neither is possible the
Kafka tests are skipped with a reason that names the missing service.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

from govpulse.broker import BrokerError, EmbeddedBroker, port_open
from govpulse.settings import EmbeddedBrokerSettings, KafkaSettings


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
