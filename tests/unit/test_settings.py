"""Settings come from GOVPULSE_ variables, nest with __, and keep secrets out of sight."""

from __future__ import annotations

from typing import get_args

import aiokafka.codec
import kafka.codec
import kafka.record.util
import pytest
from pydantic import ValidationError

from govpulse.settings import KafkaSettings, Settings


def test_nested_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVPULSE_KAFKA__BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("GOVPULSE_DB__PASSWORD", "s3cret")
    monkeypatch.setenv("GOVPULSE_NAMESPACE", "replay_2024_10")
    settings = Settings()
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.namespace == "replay_2024_10"
    assert settings.db.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings) and "s3cret" not in settings.db.describe()
    assert "password='s3cret'" in settings.db.conninfo()


def test_defaults_bind_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOVPULSE_KAFKA__BOOTSTRAP_SERVERS", "GOVPULSE_DB__HOST", "GOVPULSE_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.kafka.bootstrap_servers.startswith("127.0.0.1")
    assert settings.embedded_broker.host == "127.0.0.1"
    assert settings.db.host == "127.0.0.1"
    assert settings.namespace == "live"


@pytest.mark.parametrize("bad", ["Live", "1st", "a-b", "x" * 40, "drop table"])
def test_namespace_must_be_safe_for_topics_and_schemas(bad: str) -> None:
    with pytest.raises(ValidationError, match="namespace must start with a lowercase letter"):
        Settings(namespace=bad)


@pytest.mark.parametrize(
    "codec",
    [c for c in get_args(KafkaSettings.model_fields["compression"].annotation) if c != "none"],
)
def test_each_codec_offered_has_its_libraries_in_both_clients(codec: str) -> None:
    # kafka-python (connectors, `govpulse record`) and aiokafka (workers) check for the codec's
    # library only when a client starts: a dependency dropped from pyproject fails here instead.
    assert getattr(kafka.codec, f"has_{codec}")()
    assert getattr(aiokafka.codec, f"has_{codec}")()


def test_kafka_python_computes_record_crcs_in_c() -> None:
    # Without the `crc32c` package kafka-python falls back to a pure-Python CRC-32C, silently:
    # the connectors, replay and `govpulse record` would spend most of their CPU on it.
    assert kafka.record.util.crc32c_c is not None
    # The standard check value of CRC-32C (Castagnoli) over "123456789".
    assert kafka.record.util.calc_crc32c(b"123456789") == 0xE3069283
