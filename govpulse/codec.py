"""Encoding and decoding of Kafka record values.

A record value is one event (a JSON object) or a batch of events (a JSON array) of one feed.
Decoding is strict (no string-to-number or number-to-date coercion) and bounded: a record over
`max_bytes` is refused unparsed, an array of more than `max_events` elements is refused after
splitting it (never validated element by element), and every element is validated on its own, so
one bad event never costs the good ones beside it. Each accepted event keeps the exact bytes it
arrived as (for the raw archive and content comparison of duplicates).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Generic, TypeVar

import msgspec
from pydantic import TypeAdapter, ValidationError

from govpulse.events import Event

E = TypeVar("E", bound=Event)

MAX_REASON_CHARS = 500
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_EVENTS = 10_000


class RejectReason(StrEnum):
    """Why input was refused: the label dead letters and pipeline health count by."""

    EMPTY_RECORD = "empty_record"
    RECORD_TOO_LARGE = "record_too_large"
    TOO_MANY_EVENTS = "too_many_events"
    INVALID_JSON = "invalid_json"
    NOT_AN_EVENT = "not_an_event"
    INVALID_EVENT = "invalid_event"
    UNKNOWN_REFERENCE = "unknown_reference"
    AGENCY_NOT_KEY = "agency_not_key"
    IMPLAUSIBLE_TIME = "implausible_time"
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
    DATABASE_REFUSED = "database_refused"


@dataclass(frozen=True, slots=True)
class Rejected:
    """Input that failed: why, and the original bytes (never lost, see the dead-letter topic)."""

    reason: RejectReason
    detail: str
    payload: bytes
    index: int | None = None  # position in the batch, None when the whole record is bad
    events: int = 1  # how many events the payload stands for (a refused batch: all of them)


class InvalidEvent(ValueError):
    """An element that is JSON but not a valid event of the feed."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail[:MAX_REASON_CHARS]


@dataclass(frozen=True, slots=True)
class Decoded(Generic[E]):
    events: list[E]
    raws: list[bytes]  # the bytes of each event in `events`, as received
    rejected: list[Rejected]


ElementValidator = Callable[[bytes], E]
"""Turns one JSON element into an event or raises `InvalidEvent`."""

_split_array = msgspec.json.Decoder(list[msgspec.Raw])


@cache
def _batch_adapter(model: type[E]) -> TypeAdapter[list[E]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def encode_events(model: type[E], events: Sequence[E]) -> bytes:
    """One record value holding a JSON array of `events`."""
    return _batch_adapter(model).dump_json(list(events))


def encode_event(event: Event) -> bytes:
    """One record value holding a single JSON object."""
    return event.model_dump_json().encode()


@cache
def strict_validator(model: type[E]) -> ElementValidator[E]:
    """The reference validator: the pydantic model itself, in strict mode."""

    def validate(raw: bytes) -> E:
        try:
            return model.model_validate_json(raw, strict=True)
        except ValidationError as exc:
            raise InvalidEvent(RejectReason.INVALID_EVENT, describe_error(exc)) from None

    return validate


def decode(
    model: type[E],
    value: bytes | None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_events: int = DEFAULT_MAX_EVENTS,
    validator: ElementValidator[E] | None = None,
) -> Decoded[E]:
    """Validate a record value into events; everything that fails comes back as `Rejected`."""
    if not value:
        return Decoded([], [], [Rejected(RejectReason.EMPTY_RECORD, "empty record value", b"")])
    if len(value) > max_bytes:
        detail = f"record of {len(value)} bytes exceeds the limit of {max_bytes} bytes"
        return Decoded([], [], [Rejected(RejectReason.RECORD_TOO_LARGE, detail, value)])
    validate = validator or strict_validator(model)
    first = value.lstrip()[:1]
    if first == b"{":
        try:
            return Decoded([validate(value)], [value], [])
        except InvalidEvent as exc:
            return Decoded([], [], [Rejected(exc.reason, exc.detail, value)])
    if first != b"[":
        return Decoded(
            [], [], [Rejected(RejectReason.NOT_AN_EVENT, "not a JSON object or array", value)]
        )
    try:
        elements = _split_array.decode(value)
    except msgspec.DecodeError as exc:
        return Decoded([], [], [Rejected(RejectReason.INVALID_JSON, f"invalid JSON: {exc}", value)])
    if len(elements) > max_events:
        detail = f"batch of {len(elements)} events exceeds the limit of {max_events}"
        return Decoded(
            [], [], [Rejected(RejectReason.TOO_MANY_EVENTS, detail, value, events=len(elements))]
        )
    events: list[E] = []
    raws: list[bytes] = []
    rejected: list[Rejected] = []
    elements_raw = list(map(bytes, elements))
    batch = getattr(validate, "batch", None)
    if batch is not None:
        # A validator that reads the whole array at once (see govpulse.fast_contracts).
        results, all_events = batch(value, elements_raw)
        if all_events:
            return Decoded(results, elements_raw, [])
        for index, (raw, result) in enumerate(zip(elements_raw, results, strict=True)):
            if isinstance(result, InvalidEvent):
                rejected.append(Rejected(result.reason, result.detail, raw, index))
            else:
                events.append(result)
                raws.append(raw)
        return Decoded(events, raws, rejected)
    for index, raw in enumerate(elements_raw):
        try:
            events.append(validate(raw))
        except InvalidEvent as exc:
            rejected.append(Rejected(exc.reason, exc.detail, raw, index))
            continue
        raws.append(raw)
    return Decoded(events, raws, rejected)


def describe_error(exc: ValidationError) -> str:
    """A one-line reason naming each failing field, e.g. `fee_vnd: Input should be >= 0`."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in error["loc"]) or "event"
        parts.append(f"{location}: {error['msg']}")
    reason = f"{exc.title}: " + "; ".join(parts)
    return reason[:MAX_REASON_CHARS]
