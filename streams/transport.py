"""faust's aiokafka transport with the fetch wait the worker asks for.

faust builds its consumer with `fetch_max_wait_ms=1500`, fixed. The wait only matters when a
fetch finds nothing new: Apache Kafka then answers as soon as data arrives, but a broker that
holds the request for the whole wait (the embedded Tansu does) delays every record produced
meanwhile by up to that long. At 10k events/s that was most of the delay before the dashboards
saw an event (docs/performance.md, "Fetch wait"). A shorter wait costs one more empty fetch per
wait on an idle worker.
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka


class PromptConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands this to its fetcher when the consumer starts, which is after this
        # returns (AIOKafkaConsumerThread.on_start); tests/integration/test_transport.py checks
        # the fetcher of a running worker holds it, so an aiokafka upgrade that moves it fails.
        consumer._fetch_max_wait_ms = transport.fetch_max_wait_ms
        return consumer


class PromptConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> PromptConsumerThread:
        return PromptConsumerThread(self, loop=self.loop, beacon=self.beacon)


class PromptTransport(faust_aiokafka.Transport):
    Consumer = PromptConsumer

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fetch_max_wait_ms = fetch_max_wait_ms


def use_prompt_transport(app: Any, fetch_max_wait_ms: int) -> None:
    """Give `app` (not yet started) a consumer transport that waits at most this long per fetch."""
    app.transport = PromptTransport(
        app.conf.broker_consumer, app, fetch_max_wait_ms=fetch_max_wait_ms
    )
