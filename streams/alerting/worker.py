"""Alerting in the Faust worker: the evaluator on a leader-only timer, the `<namespace>.alerts`
topic, and webhooks delivered from the worker's event loop.

`attach_alerting(app, settings)` is called by `streams.pipeline.build_app`. Only the consumer
group's leader evaluates (`on_leader=True`), so several workers never notify twice.
"""

from __future__ import annotations

import logging

import faust

from govpulse.settings import Settings
from streams.alerting.evaluator import AlertEvaluator, alerts_topic

log = logging.getLogger(__name__)


class FaustPublisher:
    """Publishes alert records with the app's producer; declares the topic on first use."""

    def __init__(self, app: faust.App, topic_name: str) -> None:
        self.topic = app.topic(
            topic_name, key_serializer="raw", value_serializer="raw", partitions=1
        )
        self._declared = False

    async def publish(self, key: bytes, value: bytes) -> None:
        if not self._declared:
            await self.topic.maybe_declare()
            self._declared = True
        await self.topic.send(key=key, value=value)


def attach_alerting(app: faust.App, settings: Settings) -> AlertEvaluator:
    publisher = FaustPublisher(app, alerts_topic(settings.namespace))
    evaluator = AlertEvaluator(settings, publisher=publisher)

    async def evaluate_alerts() -> None:
        await evaluator.evaluate_once()

    app.timer(interval=settings.alerts.interval_s, on_leader=True, name="alerts")(evaluate_alerts)
    log.info(
        "alerting: %d rules every %.0f s on the group leader",
        len(evaluator.compiled), settings.alerts.interval_s,
    )  # fmt: skip
    return evaluator
