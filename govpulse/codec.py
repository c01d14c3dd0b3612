"""Encoding and decoding of Kafka record values.

A record value is one event (a JSON object) or a batch of events (a JSON array) of one feed.
Decoding validates the whole batch in one pass (the fast path); only when that fails is each
element validated on its own, so one bad event never costs the good ones beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

import orjson
from pydantic import TypeAdapter, ValidationError

from govpulse.events import Event

E = TypeVar("E", bound=Event)

MAX_REASON_CHARS = 500


@dataclass(frozen=True, slots=True)
class Rejected:
    """Input that failed: why, and the original bytes (never lost, see the dead-letter topic)."""

    reason: str
    payload: bytes
    index: int | None = None  # position in the batch, None when the whole record is bad


@dataclass(frozen=True, slots=True)
class Decoded(Generic[E]):
    events: list[E]
    rejected: list[Rejected]


@cache
def _batch_adapter(model: type[E]) -> TypeAdapter[list[E]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def encode_events(model: type[E], events: Sequence[E]) -> bytes:
    """One record value holding a JSON array of `events`."""
    return _batch_adapter(model).dump_json(list(events))


def encode_event(event: Event) -> bytes:
    """One record value holding a single JSON object."""
    return event.model_dump_json().encode()


def decode(model: type[E], value: bytes | None) -> Decoded[E]:
    """Validate a record value into events; everything that fails comes back as `Rejected`."""
    if not value:
        return Decoded([], [Rejected("empty record value", value or b"")])
    first = value.lstrip()[:1]
    if first == b"[":
        try:
            return Decoded(_batch_adapter(model).validate_json(value), [])
        except ValidationError:
            return _decode_elementwise(model, value)
    if first == b"{":
        try:
            return Decoded([model.model_validate_json(value)], [])
        except ValidationError as exc:
            return Decoded([], [Rejected(describe_error(exc), value)])
    return Decoded([], [Rejected("not a JSON object or array", value)])


def _decode_elementwise(model: type[E], value: bytes) -> Decoded[E]:
    try:
        items = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return Decoded([], [Rejected(f"invalid JSON: {exc}", value)])
    events: list[E] = []
    rejected: list[Rejected] = []
    for index, item in enumerate(items):
        try:
            events.append(model.model_validate(item))
        except ValidationError as exc:
            rejected.append(Rejected(describe_error(exc), _reencode(item), index))
    return Decoded(events, rejected)


def _reencode(item: Any) -> bytes:
    return orjson.dumps(item)


def describe_error(exc: ValidationError) -> str:
    """A one-line reason naming each failing field, e.g. `fee_vnd: Input should be >= 0`."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in error["loc"]) or "event"
        parts.append(f"{location}: {error['msg']}")
    reason = f"{exc.title}: " + "; ".join(parts)
    return reason[:MAX_REASON_CHARS]
