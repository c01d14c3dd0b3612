"""Webhook notifications, delivered in the background so a slow or failing receiver never holds
up evaluation or the stream.

Each receiver has its own bounded queue and delivery task: notifications reach a receiver in
order; a full queue drops its oldest notification (counted and logged). A delivery that fails
(connection error, timeout, HTTP status >= 300) is retried with exponential backoff up to
`webhook_retries` times, then dropped, counted and logged. Bodies: a generic JSON document
(`format="json"`) or a chat-compatible `{"text": ...}` (`format="text"`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import orjson

from govpulse.settings import AlertSettings
from streams.alerting.state import AlertState, Transition

log = logging.getLogger(__name__)

BodyFormat = Literal["json", "text"]


def json_body(transition: Transition, namespace: str) -> dict[str, Any]:
    """The generic body: one alert's transition, with everything a receiver may route on."""
    rule = transition.rule

    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "version": 1,
        "namespace": namespace,
        "status": transition.state.value,
        "rule": rule.name,
        "fingerprint": transition.fingerprint,
        "severity": rule.severity.value,
        "labels": transition.all_labels,
        "value": transition.value,
        "threshold": rule.threshold,
        "op": rule.op,
        "summary": transition.summary,
        "runbook_url": rule.runbook_url,
        "started_at": iso(transition.started_at),
        "fired_at": iso(transition.fired_at),
        "resolved_at": iso(transition.resolved_at),
        "at": iso(transition.at),
    }


def chat_text(transition: Transition, namespace: str) -> str:
    rule = transition.rule
    head = "RESOLVED" if transition.state is AlertState.RESOLVED else "FIRING"
    text = f"[{head}] [{rule.severity.value.upper()}] {transition.summary} ({namespace})"
    if rule.runbook_url:
        text += f"\nRunbook: {rule.runbook_url}"
    return text


@dataclass
class WebhookStats:
    delivered: Counter[str] = field(default_factory=Counter)
    failed_attempts: Counter[str] = field(default_factory=Counter)
    given_up: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Receiver:
    url: str
    format: BodyFormat = "json"


class WebhookNotifier:
    """Background delivery to every configured receiver; `start()` in the worker's loop."""

    def __init__(
        self, settings: AlertSettings, namespace: str, receivers: list[Receiver] | None = None
    ) -> None:
        self.settings = settings
        self.namespace = namespace
        self.receivers = receivers if receivers is not None else receivers_of(settings)
        self.stats = WebhookStats()
        self._queues: dict[Receiver, asyncio.Queue[Transition]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._tasks or not self.receivers:
            return
        timeout = aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout)
        for receiver in self.receivers:
            queue: asyncio.Queue[Transition] = asyncio.Queue(self.settings.webhook_queue_size)
            self._queues[receiver] = queue
            self._tasks.append(asyncio.create_task(self._deliver_loop(receiver, queue)))

    def notify(self, transition: Transition) -> None:
        """Queue a notification for every receiver; never waits."""
        for receiver, queue in self._queues.items():
            if queue.full():
                dropped = queue.get_nowait()
                queue.task_done()
                self.stats.dropped[receiver.url] += 1
                log.warning("webhook %s: queue full, dropped %s", receiver.url, dropped.fingerprint)
            queue.put_nowait(transition)

    async def drain(self, timeout_s: float) -> bool:
        """Wait until every queued notification was delivered or given up (tests, shutdown)."""
        try:
            async with asyncio.timeout(timeout_s):
                for queue in self._queues.values():
                    await queue.join()
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._queues.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _deliver_loop(self, receiver: Receiver, queue: asyncio.Queue[Transition]) -> None:
        while True:
            transition = await queue.get()
            try:
                await self._deliver(receiver, transition)
            except Exception:  # a bug must not end deliveries to this receiver
                log.exception("webhook %s: delivery failed unexpectedly", receiver.url)
            finally:
                queue.task_done()

    async def _deliver(self, receiver: Receiver, transition: Transition) -> None:
        if receiver.format == "text":
            body: dict[str, Any] = {"text": chat_text(transition, self.namespace)}
        else:
            body = json_body(transition, self.namespace)
        payload = orjson.dumps(body)
        delay = self.settings.webhook_backoff_s
        attempts = self.settings.webhook_retries + 1
        for attempt in range(1, attempts + 1):
            reason = await self._post(receiver.url, payload)
            if reason is None:
                self.stats.delivered[receiver.url] += 1
                return
            self.stats.failed_attempts[receiver.url] += 1
            if attempt == attempts:
                break
            log.warning(
                "webhook %s: %s (attempt %d of %d); retrying in %.1f s",
                receiver.url, reason, attempt, attempts, delay,
            )  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.webhook_backoff_max_s)
        self.stats.given_up[receiver.url] += 1
        log.error(
            "webhook %s: giving up on %s %s after %d attempts",
            receiver.url, transition.state.value, transition.fingerprint, attempts,
        )  # fmt: skip

    async def _post(self, url: str, payload: bytes) -> str | None:
        """None when delivered, else the reason on one line."""
        assert self._session is not None
        try:
            async with self._session.post(
                url, data=payload, headers={"Content-Type": "application/json"}
            ) as response:
                if response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}".strip().splitlines()[0]


def receivers_of(settings: AlertSettings) -> list[Receiver]:
    return [Receiver(url, "json") for url in settings.webhook_urls] + [
        Receiver(url, "text") for url in settings.chat_webhook_urls
    ]
