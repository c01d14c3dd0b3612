"""Webhook delivery from the notification outbox (`govpulse.alerts.notifications`).

The evaluator writes one outbox row per transition and receiver in the transaction that records
the transition; `OutboxDelivery` runs in the background on the evaluating worker and sends what
is due: a receiver that is slow, failing or down never holds up evaluation or the stream, and
nothing owed is lost to a full queue, a restart or a SIGKILL. Guarantees:
- a row is marked delivered only after a 2xx answer; any other outcome (connection error,
  timeout, HTTP status >= 300) reschedules it with doubling backoff until it expires;
- every request carries the row's `Idempotency-Key` header (and `idempotency_key` in JSON
  bodies), the same on every attempt, so a receiver can drop the repeat a crash between its
  answer and our bookkeeping can cause;
- per receiver and alert, notifications arrive in order.
Bodies: a generic JSON document (`format="json"`) or a chat-compatible `{"text": ...}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import orjson
import psycopg

from govpulse.alerts.notifications import (
    Receiver,
    backoff,
    claim_statement,
    delivered_statements,
    expire_statement,
    failed_statement,
    receivers_of,
)
from govpulse.db.connection import one_line
from govpulse.settings import Settings
from streams.alerting.state import AlertState, Transition

log = logging.getLogger(__name__)

_CLAIM_LIMIT = 100


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
class DeliveryStats:
    delivered: Counter[str] = field(default_factory=Counter)
    failed_attempts: Counter[str] = field(default_factory=Counter)
    expired: Counter[str] = field(default_factory=Counter)
    passes: int = 0
    failed_passes: int = 0  # the database was unavailable


def bodies(transition: Transition, namespace: str, key: str) -> dict[str, Any]:
    """The body for each format, as stored in the outbox."""
    return {
        "json": json_body(transition, namespace) | {"idempotency_key": key},
        "text": {"text": chat_text(transition, namespace)},
    }


class OutboxDelivery:
    """Sends due outbox rows to the configured receivers; `start()` in the worker's loop.

    `wake()` asks for a pass now (the evaluator calls it after recording notifications); a pass
    also runs every `delivery_poll_s`, which is what resumes retries after a restart.
    """

    def __init__(self, settings: Settings, receivers: list[Receiver] | None = None) -> None:
        self.settings = settings
        self.alerts = settings.alerts
        self.schema = settings.namespace
        self.receivers = {
            r.id: r for r in (receivers if receivers is not None else receivers_of(self.alerts))
        }
        self.stats = DeliveryStats()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._claim = claim_statement(self.schema)
        self._delivered = delivered_statements(self.schema)
        self._failed = failed_statement(self.schema)
        self._expire = expire_statement(self.schema)

    async def start(self) -> None:
        if self._task is not None or not self.receivers:
            return
        timeout = aiohttp.ClientTimeout(total=self.alerts.webhook_timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout)
        self._task = asyncio.create_task(self._loop())

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.alerts.delivery_poll_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                while await self.deliver_due() == _CLAIM_LIMIT:
                    pass  # more may be due at once
            except psycopg.Error as exc:
                self.stats.failed_passes += 1
                await self._drop()
                log.warning("alert delivery skipped: database unavailable (%s)", one_line(exc))
            except Exception:  # a bug must not end deliveries
                log.exception("alert delivery pass failed unexpectedly")

    async def deliver_due(self) -> int:
        """One pass: expire what is too old, send what is due; returns the rows claimed."""
        self.stats.passes += 1
        connection = await self._connect()
        async with connection.cursor() as cursor:
            await cursor.execute(self._expire)
            for fingerprint, state, receiver, attempts, error in await cursor.fetchall():
                self.stats.expired[receiver] += 1
                log.error(
                    "alert notification expired undelivered: %s %s to %s after %d attempts (%s)",
                    state, fingerprint, receiver, attempts, error,
                )  # fmt: skip
            lease = timedelta(seconds=self.alerts.webhook_timeout_s + 10)
            await cursor.execute(
                self._claim,
                {"lease": lease, "receivers": list(self.receivers), "limit": _CLAIM_LIMIT},
            )
            claimed = await cursor.fetchall()
        outcomes = await asyncio.gather(*(self._send(row) for row in claimed))
        async with connection.transaction(), connection.cursor() as cursor:
            for row, reason in zip(claimed, outcomes, strict=True):
                notification_id, receiver_id, attempts = row[0], row[2], row[5]
                name = self.receivers[receiver_id].name
                if reason is None:
                    self.stats.delivered[name] += 1
                    await cursor.execute(self._delivered[0], (notification_id,))
                    marked = await cursor.fetchone()
                    if marked is not None:
                        await cursor.execute(self._delivered[1], {"event": marked[0]})
                    continue
                self.stats.failed_attempts[name] += 1
                wait = backoff(attempts, self.alerts)
                await cursor.execute(self._failed, (wait, reason[:500], notification_id))
                log.warning(
                    "webhook %s: %s %s not delivered (%s, attempt %d); next in %.0f s",
                    name, row[7], row[6], reason, attempts, wait.total_seconds(),
                )  # fmt: skip
        return len(claimed)

    async def _send(self, row: tuple[Any, ...]) -> str | None:
        """None when the receiver answered 2xx, else the reason on one line."""
        _, _, receiver_id, key, body, _, _, _ = row
        receiver = self.receivers[receiver_id]
        assert self._session is not None
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        try:
            async with self._session.post(
                receiver.url, data=orjson.dumps(body), headers=headers
            ) as response:
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return (f"{type(exc).__name__}: {exc}".strip().splitlines() or ["?"])[0]

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(
                self.settings.db.conninfo(), autocommit=True
            )
        return self._connection

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                await connection.close()
