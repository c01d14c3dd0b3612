"""A plain kafka-python reader for tests: reads whole topics by partition, without a group.

Partitions are assigned directly: consumer groups take about 20 s to join on Tansu.
"""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition


def read_topic(
    bootstrap: str, topic: str, expected: int | None = None, timeout_s: float = 20.0
) -> list[tuple[bytes, bytes]]:
    """(key, value) of every record of `topic`, waiting up to `timeout_s` for `expected` records."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        deadline = time.monotonic() + timeout_s
        partitions = None
        while partitions is None and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                time.sleep(0.2)
        if not partitions:
            return []
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        records: list[tuple[bytes, bytes]] = []
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend((r.key, r.value) for r in batch)
            if expected is not None and len(records) >= expected:
                break
            if expected is None:
                end = consumer.end_offsets(assigned)
                if all(consumer.position(tp) >= end[tp] for tp in assigned):
                    break
        return records
    finally:
        consumer.close()
