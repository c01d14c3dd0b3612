"""What every event shares: identity, schema version, event time and the emitting agency."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, StringConstraints

AgencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9_]{2,12}$")]
"""A code from the reference data: 2-digit province codes ("01", "79") or ministry codes ("BCA")."""

Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
]


class HighCardinality:
    """Marks a field with about as many distinct values as events: an entity's own id, repeated
    only by the few lifecycle steps of that entity, not a code that recurs in every minute.

    Validation is unchanged; a validator that remembers the values it has already checked
    (`govpulse.fast_contracts`) does not remember these: the memo would fill to its bound
    (about 7 MB a field) for few hits (an hour's dossier ids: one check in three).
    """


EntityId = Annotated[Identifier, HighCardinality()]
"""An identifier of one dossier, payment, document or incident: same rules as `Identifier`."""


def _no_naive_or_odd_offsets(value: AwareDatetime) -> AwareDatetime:
    offset = value.utcoffset()
    # Whole minutes only: feeds carry UTC or Vietnam time (UTC+7); seconds offsets are corrupt data.
    if offset is not None and offset % timedelta(minutes=1):
        raise ValueError("timezone offset must be whole minutes")
    return value


# Its verdict depends on the offset alone, so a fast path may remember it per time zone.
_no_naive_or_odd_offsets.offset_only = True  # type: ignore[attr-defined]

EventTime = Annotated[AwareDatetime, AfterValidator(_no_naive_or_odd_offsets)]
"""A timezone-aware timestamp; naive datetimes are rejected with a clear message."""


class Event(BaseModel):
    """Base of every feed's event. Frozen and strict about unknown fields.

    `agency` is the emitting agency and the Kafka key; `occurred_at` is event time,
    the time windows are computed on; `event_id` makes duplicates detectable.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)

    event_id: UUID
    occurred_at: EventTime
    agency: AgencyCode
