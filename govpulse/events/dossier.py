"""`portal.dossiers`: status changes of administrative dossiers on the Public Service Portal."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from govpulse.events.base import EntityId, Event, EventTime, Identifier


class DossierStatus(StrEnum):
    SUBMITTED = "submitted"
    RECEIVED = "received"
    PROCESSING = "processing"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    COMPLETED = "completed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


FINAL_STATUSES = frozenset(
    {DossierStatus.COMPLETED, DossierStatus.REJECTED, DossierStatus.WITHDRAWN}
)

# The lifecycle a dossier may follow; simulators and tests check transitions against it.
ALLOWED_TRANSITIONS: dict[DossierStatus, frozenset[DossierStatus]] = {
    DossierStatus.SUBMITTED: frozenset({DossierStatus.RECEIVED, DossierStatus.WITHDRAWN}),
    DossierStatus.RECEIVED: frozenset(
        {DossierStatus.PROCESSING, DossierStatus.REJECTED, DossierStatus.WITHDRAWN}
    ),
    DossierStatus.PROCESSING: frozenset(
        {
            DossierStatus.SUPPLEMENT_REQUESTED,
            DossierStatus.COMPLETED,
            DossierStatus.REJECTED,
            DossierStatus.WITHDRAWN,
        }
    ),
    DossierStatus.SUPPLEMENT_REQUESTED: frozenset(
        {DossierStatus.PROCESSING, DossierStatus.WITHDRAWN}
    ),
    DossierStatus.COMPLETED: frozenset(),
    DossierStatus.REJECTED: frozenset(),
    DossierStatus.WITHDRAWN: frozenset(),
}


class DossierChannel(StrEnum):
    PORTAL = "portal"  # the National Public Service Portal itself
    VNEID = "vneid"  # the VNeID app
    AGENCY_SYSTEM = "agency_system"  # a ministry's or province's own dossier system, synced
    ONE_STOP = "one_stop"  # the one-stop desk ("bộ phận một cửa")
    POSTAL = "postal"


class DossierMode(StrEnum):
    FULL_ONLINE = "full_online"  # "toàn trình"
    PARTIAL_ONLINE = "partial_online"  # "một phần"
    OFFLINE = "offline"


ONLINE_MODES = frozenset({DossierMode.FULL_ONLINE, DossierMode.PARTIAL_ONLINE})


class DossierEvent(Event):
    """One status change of one dossier; every event of a dossier repeats its descriptive fields."""

    schema_version: Literal[1] = 1
    dossier_id: EntityId
    procedure: Identifier
    field: Identifier
    status: DossierStatus
    channel: DossierChannel
    mode: DossierMode
    submitted_at: EventTime
    due_at: EventTime
    fee_vnd: int = Field(ge=0, le=10_000_000_000)
    digitised: bool
    data_reused: bool

    @model_validator(mode="after")
    def _times_in_order(self) -> DossierEvent:
        if self.due_at < self.submitted_at:
            raise ValueError("due_at is before submitted_at")
        if self.occurred_at < self.submitted_at:
            raise ValueError("occurred_at is before submitted_at")
        if self.status is DossierStatus.SUBMITTED and self.occurred_at != self.submitted_at:
            raise ValueError("a 'submitted' event must occur at submitted_at")
        if self.channel in (DossierChannel.ONE_STOP, DossierChannel.POSTAL) and (
            self.mode is DossierMode.FULL_ONLINE
        ):
            raise ValueError(
                f"channel {self.channel.value!r} cannot carry a full-process online dossier"
            )
        return self
