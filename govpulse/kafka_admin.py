"""Creating and checking the registry's topics on a broker (kafka-python admin client)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from govpulse.broker import port_open
from govpulse.settings import KafkaSettings
from govpulse.topics import SIDE_CHANNEL_RETENTION_MS, FeedSpec

log = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """No broker answered at the configured address; the message is one line."""


@dataclass(frozen=True, slots=True)
class TopicPlan:
    name: str
    partitions: int
    retention_ms: int


def planned_topics(feeds: Sequence[FeedSpec], namespace: str) -> list[TopicPlan]:
    """Every topic a namespace needs for the given feeds: the feed, its `.dlq` and `.late`."""
    plans: list[TopicPlan] = []
    for spec in feeds:
        plans.append(TopicPlan(spec.topic(namespace), spec.partitions, spec.retention_ms))
        plans.append(TopicPlan(spec.dlq_topic(namespace), 1, SIDE_CHANNEL_RETENTION_MS))
        plans.append(TopicPlan(spec.late_topic(namespace), 1, SIDE_CHANNEL_RETENTION_MS))
    return plans


def require_reachable(settings: KafkaSettings) -> None:
    """Fail fast with one line when no bootstrap address accepts a TCP connection.

    kafka-python would otherwise wait for its whole request timeout before saying anything.
    """
    for address in settings.bootstrap_servers.split(","):
        host, _, port = address.strip().rpartition(":")
        if host and port.isdigit() and port_open(host.strip("[]"), int(port), timeout=2.0):
            return
    raise BrokerUnavailable(
        f"no Kafka broker answers at {settings.bootstrap_servers} "
        "(start one with `govpulse broker`, or set GOVPULSE_KAFKA__BOOTSTRAP_SERVERS)"
    )


def admin_client(settings: KafkaSettings) -> KafkaAdminClient:
    require_reachable(settings)
    try:
        return KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=f"{settings.client_id}-admin",
            request_timeout_ms=settings.request_timeout_ms,
        )
    except KafkaError as exc:
        raise BrokerUnavailable(
            f"the broker at {settings.bootstrap_servers} failed: {exc}"
        ) from None


def ensure_topics(
    settings: KafkaSettings, feeds: Sequence[FeedSpec], namespace: str
) -> tuple[list[str], list[str]]:
    """Create the missing topics; returns (created, already present). Safe to run again."""
    plans = planned_topics(feeds, namespace)
    client = admin_client(settings)
    try:
        existing = set(client.list_topics())
        missing = [plan for plan in plans if plan.name not in existing]
        created: list[str] = []
        for plan in missing:
            topic = NewTopic(
                name=plan.name,
                num_partitions=plan.partitions,
                replication_factor=1 if _single_broker(client) else 3,
                topic_configs={"retention.ms": str(plan.retention_ms)},
            )
            try:
                client.create_topics([topic])
                created.append(plan.name)
            except TopicAlreadyExistsError:
                pass  # created meanwhile by another process
            except KafkaError as exc:
                raise BrokerUnavailable(f"could not create topic {plan.name}: {exc}") from exc
        present = [plan.name for plan in plans if plan.name in existing]
        log.info("topics: %d created, %d present", len(created), len(present))
        return created, present
    finally:
        client.close()


def _single_broker(client: KafkaAdminClient) -> bool:
    # A development broker cannot hold three replicas; a production cluster should.
    brokers = client.describe_cluster().get("brokers", [])
    return len(brokers) < 3
