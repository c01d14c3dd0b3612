"""The control topic `<namespace>.control`: how `govpulse connectors drill` reaches the running
simulated feeds.

Why a topic: the connector runner may be another process, another container or several of them;
Kafka is what every part already reaches, the command needs no shared file or port, a runner
restarted in the middle of a drill reads the topic from the beginning and picks the drill up
again, and the topic is a record of the drills run. One partition: drills stay in order.

`send_drill` produces one command; `ControlListener` (a daemon thread in the runner) reads every
command into a `DrillBook`. A command that does not parse is logged and counted, never fatal.
"""

from __future__ import annotations

import logging
import threading

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from pydantic import ValidationError

from connectors.drills import Drill, DrillBook
from govpulse.kafka_admin import BrokerUnavailable, admin_client
from govpulse.settings import KafkaSettings

log = logging.getLogger(__name__)

RETENTION_MS = 7 * 24 * 3600 * 1000


def control_topic(namespace: str) -> str:
    return f"{namespace}.control"


def ensure_control_topic(settings: KafkaSettings, namespace: str) -> None:
    client = admin_client(settings)
    try:
        if control_topic(namespace) in set(client.list_topics()):
            return
        topic = NewTopic(
            name=control_topic(namespace), num_partitions=1, replication_factor=1,
            topic_configs={"retention.ms": str(RETENTION_MS)},
        )  # fmt: skip
        try:
            client.create_topics([topic])
        except TopicAlreadyExistsError:
            pass
        except KafkaError as exc:
            raise BrokerUnavailable(f"could not create {control_topic(namespace)}: {exc}") from exc
    finally:
        client.close()


def send_drill(settings: KafkaSettings, namespace: str, drill: Drill) -> None:
    """Produce one drill command and wait until the broker has it."""
    ensure_control_topic(settings, namespace)
    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, client_id=f"{settings.client_id}-drill",
        acks="all",
    )  # fmt: skip
    try:
        producer.send(control_topic(namespace), key=drill.id.encode(), value=drill.encode()).get(
            timeout=settings.request_timeout_ms / 1000
        )
    finally:
        producer.close()


class ControlListener:
    """Reads `<namespace>.control` from the beginning into `book`, until `stop()`."""

    def __init__(self, settings: KafkaSettings, namespace: str, book: DrillBook) -> None:
        self.settings = settings
        self.namespace = namespace
        self.book = book
        self.received = 0
        self.invalid = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-control", daemon=True)

    def start(self) -> None:
        ensure_control_topic(self.settings, self.namespace)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        consumer = KafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            client_id=f"{self.settings.client_id}-control", enable_auto_commit=False,
        )  # fmt: skip
        partition = TopicPartition(control_topic(self.namespace), 0)
        try:
            consumer.assign([partition])
            consumer.seek_to_beginning(partition)
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=500).values():
                    for record in records:
                        self._take(record.value)
        except Exception:  # the feeds go on without drills rather than stop
            log.exception("drill control: listener failed; drills are no longer received")
        finally:
            consumer.close()

    def _take(self, value: bytes | None) -> None:
        try:
            drill = Drill.decode(value or b"")
        except (ValidationError, ValueError) as exc:
            self.invalid += 1
            log.warning("drill control: ignored an invalid command: %s", str(exc).splitlines()[0])
            return
        self.received += 1
        self.book.add(drill)
        log.info(
            "drill %s: %s from %s to %s%s", drill.id, drill.scenario,
            drill.starts_at.isoformat(timespec="seconds"),
            drill.ends_at.isoformat(timespec="seconds"),
            "".join(f" {k}={v}" for k, v in
                    (("agency", drill.agency), ("service", drill.service),
                     ("provider", drill.provider)) if v),
        )  # fmt: skip
