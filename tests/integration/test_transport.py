"""The worker's consumer fetches with the wait the settings name, not faust's fixed 1,500 ms,
and hands the streams at most the configured records per poll (faust's default: all of them)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from govpulse.settings import KafkaSettings, Settings, StreamsSettings
from streams.pipeline import build_app
from streams.transport import PromptConsumer, PromptTransport


def test_the_running_consumer_fetches_with_the_configured_wait_and_poll_size(
    kafka_settings: KafkaSettings, namespace: str
) -> None:
    settings = Settings(
        namespace=namespace,
        kafka=kafka_settings,
        streams=StreamsSettings(fetch_max_wait_ms=123, max_poll_records=77),
    )
    app = build_app(settings, probe_broker=False).app
    assert isinstance(app.transport, PromptTransport)
    assert isinstance(app.consumer, PromptConsumer)

    async def fetcher_wait_and_poll_size() -> tuple[int, int]:
        # The consumer faust's thread would start, started here on the test's loop: aiokafka
        # creates its fetcher in start(), from the consumer's attribute the transport set.
        thread: Any = cast(Any, app.consumer)._thread
        consumer = thread._create_consumer(loop=asyncio.get_running_loop())
        await consumer.start()
        try:
            return int(consumer._fetcher._fetch_max_wait_ms), int(consumer._max_poll_records)
        finally:
            await consumer.stop()

    assert asyncio.run(fetcher_wait_and_poll_size()) == (123, 77)
