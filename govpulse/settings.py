"""Settings: the only module that reads the environment.

Every variable is prefixed `GOVPULSE_`; nested models use `__`, for example
`GOVPULSE_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092` or `GOVPULSE_DB__PASSWORD=...`.
A `.env` file in the working directory is read too (never committed; see `.env.example`).
Everything else in the code base receives a `Settings` object instead of reading the environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

NAMESPACE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


class KafkaSettings(BaseModel):
    """How to reach the broker and how producers batch."""

    model_config = ConfigDict(frozen=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "govpulse"
    # Events per Kafka record: design.md explains why records carry batches.
    batch_events: int = Field(default=500, ge=1, le=100_000)
    linger_ms: int = Field(default=200, ge=0, le=60_000)
    # Every batch is sent once event time has moved this far past the oldest one buffered: at
    # replay speeds a wall-clock linger spans hours of event time, and records of other agencies
    # would overtake each other by more than the workers' grace. Keep it well below
    # GOVPULSE_STREAMS__GRACE_S; larger spans mean larger records and a faster pipeline.
    batch_event_span_ms: int = Field(default=600_000, ge=0)
    # zstd: as small as gzip on these JSON records (5.8 times) for a third of the worker's CPU
    # to decompress and a twelfth of the producer's to compress (docs/performance.md, fourteenth
    # session). The codecs offered are those whose libraries govpulse ships for both clients
    # (kafka-python: zstandard; aiokafka: cramjam); the brokers need Kafka 2.1 or later for zstd.
    compression: Literal["none", "gzip", "zstd"] = "zstd"
    request_timeout_ms: int = Field(default=30_000, ge=1_000)


class EmbeddedBrokerSettings(BaseModel):
    """The memory-only Tansu broker that `govpulse broker` and `govpulse up` can start."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=9092, ge=1, le=65_535)
    start_timeout_s: float = Field(default=15.0, gt=0)


class DatabaseSettings(BaseModel):
    """PostgreSQL / TimescaleDB connection; the password is never printed."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=5432, ge=1, le=65_535)
    name: str = "govpulse"
    user: str = "govpulse"
    password: SecretStr = SecretStr("")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    connect_timeout_s: int = Field(default=5, ge=1)

    def conninfo(self) -> str:
        """A libpq connection string; callers must not log it (it holds the password)."""
        parts = {
            "host": self.host,
            "port": str(self.port),
            "dbname": self.name,
            "user": self.user,
            "sslmode": self.sslmode,
            "connect_timeout": str(self.connect_timeout_s),
        }
        password = self.password.get_secret_value()
        if password:
            parts["password"] = password
        return " ".join(f"{key}={_quote_libpq(value)}" for key, value in parts.items())

    def describe(self) -> str:
        """Where the database is, safe to print."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.name}"


class StreamsSettings(BaseModel):
    """The Faust workers: lateness, flushing to the database, group membership."""

    model_config = ConfigDict(frozen=True)

    # Events whose minute is older than the partition's newest event time less this go to .late.
    grace_s: int = Field(default=3600, ge=60)
    # Event time is plausible from 2000-01-01 up to this far ahead of the wall clock; anything
    # else goes to the dead-letter topic, so no single event can move a watermark into the future.
    max_future_s: int = Field(default=300, ge=0, le=86_400)
    # A quarter of a second: dashboards see an event about 0.8 s after it is sent (p99 1.8 s at
    # 10k events/s; 1.4 s and 3.2 s flushing every second), for a few percent more CPU per event
    # (docs/performance.md). Shorter gained nothing measurable.
    flush_interval_s: float = Field(default=0.25, gt=0, le=60)
    archive_raw: bool = True
    # Hostile-input limits. A record larger than max_record_bytes, or holding more events than
    # max_record_events, is one dead letter (never parsed element by element); every record the
    # worker produces (dead letters, late batches) stays under max_output_record_bytes, below
    # Kafka's default message.max.bytes of 1 MiB; dead-letter payloads beyond
    # max_dead_letter_payload_bytes are truncated, keeping their size and sha256.
    max_record_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_record_events: int = Field(default=10_000, ge=1)
    max_output_record_bytes: int = Field(default=900_000, ge=4096)
    max_dead_letter_payload_bytes: int = Field(default=16_384, ge=256)
    # Flow control: a feed stops taking records while this many events wait for the database,
    # those a flush is writing included (memory stays bounded during an outage or overload; the
    # backlog stays in Kafka). A flush starts as soon as half of them wait (streams/flow.py).
    # 50,000 events are about 60 MB of pending rows, archive entries and ids: with an idle
    # worker at about 105 MB, peak memory stays under 300 MB (docs/performance.md).
    max_pending_events: int = Field(default=50_000, ge=1_000)
    # Records Faust buffers per stream before it stops fetching (faust's default, 4096 records of
    # hundreds of events each, is gigabytes under overload).
    stream_buffer_records: int = Field(default=64, ge=1)
    # Records handed from the consumer to the streams per poll (faust's broker_max_poll_records).
    # Faust stops fetching a partition whose buffer is full but still takes whatever one poll
    # returned, and unbounded (faust's default) that is everything fetched for every partition:
    # under overload, 64,000 one-event records waiting as objects in 60 s (docs/performance.md).
    max_poll_records: int = Field(default=500, ge=1)
    # Bytes fetched per partition and request (aiokafka's max_partition_fetch_bytes). Fetched
    # records wait decompressed in the consumer until taken: at faust's 1 MiB over two dozen
    # partitions that is the biggest part of a catching-up worker's memory. A larger record
    # still comes whole (Kafka returns at least one record batch whatever this says).
    fetch_bytes_per_partition: int = Field(default=65_536, ge=16_384)
    # How long a fetch that finds nothing new may wait at the broker (faust fixes 1,500 ms).
    # Apache Kafka answers as soon as data arrives; the embedded Tansu holds the request for
    # the whole wait, so records produced meanwhile wait with it (streams/transport.py).
    fetch_max_wait_ms: int = Field(default=50, ge=1, le=30_000)
    # On SIGTERM the last flush gets this long; what it cannot write is read again next start.
    shutdown_flush_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # A worker's name in pipeline health; default: host name and process id.
    worker_name: str = ""
    # Group membership: short timeouts let a restarted worker rejoin within seconds.
    session_timeout_s: float = Field(default=6.0, ge=1)
    heartbeat_interval_s: float = Field(default=1.0, gt=0)


class AlertSettings(BaseModel):
    """Alert evaluation in the worker and webhook notifications."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = True
    # A YAML rules file; empty: the packaged rules (govpulse/alerts/rules.yaml).
    rules_file: str = ""
    interval_s: float = Field(default=10.0, gt=0, le=3600)
    # What time rules are evaluated at: the wall clock, or the event time the namespace's data
    # has reached (replays); auto: wall for the `live` namespace, event time for any other.
    clock: Literal["auto", "wall", "event"] = "auto"
    # Wall clock: evaluate at the last minute boundary at least this long ago (the minute's data
    # has been flushed by then).
    settle_s: float = Field(default=10.0, ge=0, le=300)
    # Event time: a minute is evaluated once the data reached this far past it. Feeds and
    # partitions of a replay travel up to kafka.batch_event_span_ms apart (10 min by default).
    event_settle_s: float = Field(default=600.0, ge=0)
    # Event time: feeds further behind the newest than this do not hold evaluation back.
    event_time_max_lag_s: float = Field(default=900.0, ge=0)
    # Event time: minutes evaluated per timer tick at most (a fast replay catches up over ticks).
    max_steps_per_evaluation: int = Field(default=240, ge=1, le=100_000)
    # Generic JSON receivers, and chat receivers that take {"text": ...} (Slack, Mattermost...).
    # As JSON lists in the environment: GOVPULSE_ALERTS__WEBHOOK_URLS='["http://..."]'.
    webhook_urls: tuple[str, ...] = ()
    chat_webhook_urls: tuple[str, ...] = ()
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    # A notification is retried until a 2xx answer or until it expires; the backoff doubles
    # from webhook_backoff_s up to webhook_backoff_max_s. The schedule lives in the database
    # (alert_notifications), so retries go on across restarts and leader changes.
    webhook_backoff_s: float = Field(default=1.0, gt=0)
    webhook_backoff_max_s: float = Field(default=60.0, gt=0)
    notification_expiry_s: float = Field(default=86_400.0, gt=0)
    delivery_poll_s: float = Field(default=1.0, gt=0, le=60)  # how often due rows are looked for


class GrafanaSettings(BaseModel):
    """Where `govpulse dashboards push` publishes; token and password are never printed.

    A token (service account) wins over user and password (basic auth) when both are set.
    """

    model_config = ConfigDict(frozen=True)

    url: str = "http://127.0.0.1:3000"
    token: SecretStr = SecretStr("")
    user: str = ""
    password: SecretStr = SecretStr("")
    folder: str = "govpulse"
    timeout_s: float = Field(default=10.0, gt=0)


def _quote_libpq(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


class Settings(BaseSettings):
    """All of govpulse's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="GOVPULSE_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        frozen=True,
    )

    namespace: str = "live"
    kafka: KafkaSettings = KafkaSettings()
    embedded_broker: EmbeddedBrokerSettings = EmbeddedBrokerSettings()
    db: DatabaseSettings = DatabaseSettings()
    streams: StreamsSettings = StreamsSettings()
    grafana: GrafanaSettings = GrafanaSettings()
    alerts: AlertSettings = AlertSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("namespace")
    @classmethod
    def _valid_namespace(cls, value: str) -> str:
        return check_namespace(value)


def check_namespace(value: str) -> str:
    """`value` if it can name a namespace, else ValueError saying what a name may hold."""
    # The namespace becomes part of topic names, a consumer group and a SQL schema name.
    if not NAMESPACE_PATTERN.match(value):
        raise ValueError(
            "namespace must start with a lowercase letter and contain only lowercase "
            f"letters, digits and '_' (at most 31 characters), got {value!r}"
        )
    return value


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def child_environment(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """`base` plus the GOVPULSE_ variables that give a child process (a worker started by the
    CLI, a benchmark or a test) this namespace, broker and database."""
    db = settings.db
    return dict(base) | {
        "GOVPULSE_NAMESPACE": settings.namespace,
        "GOVPULSE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "GOVPULSE_DB__HOST": db.host,
        "GOVPULSE_DB__PORT": str(db.port),
        "GOVPULSE_DB__NAME": db.name,
        "GOVPULSE_DB__USER": db.user,
        "GOVPULSE_DB__PASSWORD": db.password.get_secret_value(),
    }
