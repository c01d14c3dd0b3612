"""Admission of validated events: reference data, plausible event time, the record key.

The codec checks an event's shape; this module checks what the shape cannot: that its agencies,
NDXP service and provider, Portal procedure and state system exist in the reference data (an
unknown code is a reason, never a new row), that its times lie between 2000-01-01 and a few
minutes past the wall clock (so no single event can move a watermark into the future or a bucket
out of the calendar), and that it came under its own agency's key (state is partitioned by it).

Pure functions of the event and the clock: `admission_check(feed)` returns a function that gives
`None` for an admissible event, or the reason and a one-line detail.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any, cast

from govpulse.codec import RejectReason
from govpulse.events import (
    DocumentEvent,
    DossierEvent,
    Event,
    IncidentEvent,
    NdxpTransaction,
    PaymentEvent,
)
from govpulse.reference.agencies import Scheme, all_agencies
from govpulse.reference.catalogues import ndxp_services, procedures
from govpulse.reference.systems import state_systems

EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
EARLIEST_TIMESTAMP = EARLIEST_EVENT_TIME.timestamp()

Verdict = tuple[RejectReason, str] | None
AdmissionCheck = Callable[[Event, str, datetime], Verdict]
"""(event, record key, latest plausible time) -> None or (reason, detail)."""


@cache
def _agency_codes() -> frozenset[str]:
    # Both provincial schemes: the simulated feeds (and agencies' systems slow to migrate) still
    # use 2024 codes after 1 July 2025; a code of neither scheme is what this check refuses.
    return frozenset(all_agencies(Scheme.PROVINCES_63)) | frozenset(
        all_agencies(Scheme.PROVINCES_34)
    )


def _unknown_agency(code: str) -> str | None:
    if code in _agency_codes():
        return None
    return f"unknown agency {code!r} (in neither the 2024 nor the 2025 scheme)"


def _implausible(name: str, moment: datetime, latest: datetime) -> str | None:
    if moment < EARLIEST_EVENT_TIME:
        return f"{name} {moment.isoformat()} is before 2000-01-01"
    if moment > latest:
        return (
            f"{name} {moment.isoformat()} is in the future (latest accepted {latest.isoformat()})"
        )
    return None


@cache
def _service_providers() -> dict[str, str]:
    return {service.code: service.provider for service in ndxp_services()}


@cache
def _procedure_codes() -> frozenset[str]:
    return frozenset(procedure.code for procedure in procedures())


@cache
def _system_owners() -> dict[str, str]:
    return {system.code: system.agency for system in state_systems()}


# Every cached reference table the checks read (`load_references` loads them all).
REFERENCE_TABLES = (
    _agency_codes,
    _service_providers,
    _procedure_codes,
    _system_owners,
)


def load_references() -> None:
    """Load every reference table the checks use now, not on a feed's first record.

    A worker calls this before it consumes. Loaded on a feed's first record, the tables (8,778
    state systems for the incidents' owners alone) cost that record 11 ms and were allocated in
    the middle of whatever burst brought it, among that burst's short-lived objects
    (docs/performance.md, eighteenth and nineteenth sessions).
    """
    for load in REFERENCE_TABLES:
        load()


def _common(event: Event, key: str, latest: datetime) -> Verdict:
    problem = _implausible("occurred_at", event.occurred_at, latest)
    if problem:
        return RejectReason.IMPLAUSIBLE_TIME, problem
    if event.agency != key:
        # Buckets are partitioned by agency: an event under another agency's key would land its
        # state in the wrong partition.
        return RejectReason.AGENCY_NOT_KEY, (
            f"agency {event.agency!r} does not match the record key {key!r}"
        )
    problem = _unknown_agency(event.agency)
    if problem:
        return RejectReason.UNKNOWN_REFERENCE, problem
    return None


def _dossier(event: Event, key: str, latest: datetime) -> Verdict:
    event = cast(DossierEvent, event)  # a model or its fast struct
    verdict = _common(event, key, latest)
    if verdict:
        return verdict
    # submitted_at <= occurred_at (the model's rule), so only the lower bound can fail.
    problem = _implausible("submitted_at", event.submitted_at, latest)
    if problem:
        return RejectReason.IMPLAUSIBLE_TIME, problem
    if event.procedure not in _procedure_codes():
        return RejectReason.UNKNOWN_REFERENCE, f"unknown procedure {event.procedure!r}"
    return None


def _payment(event: Event, key: str, latest: datetime) -> Verdict:
    event = cast(PaymentEvent, event)  # a model or its fast struct
    verdict = _common(event, key, latest)
    if verdict:
        return verdict
    if event.procedure not in _procedure_codes():
        return RejectReason.UNKNOWN_REFERENCE, f"unknown procedure {event.procedure!r}"
    return None


def _ndxp(event: Event, key: str, latest: datetime) -> Verdict:
    event = cast(NdxpTransaction, event)  # a model or its fast struct
    verdict = _common(event, key, latest)
    if verdict:
        return verdict
    provider = _service_providers().get(event.service)
    if provider is None:
        return RejectReason.UNKNOWN_REFERENCE, f"unknown NDXP service {event.service!r}"
    if event.provider != provider:
        return RejectReason.UNKNOWN_REFERENCE, (
            f"provider {event.provider!r} does not provide NDXP service {event.service!r} "
            f"(its provider is {provider!r})"
        )
    return None


def _incident(event: Event, key: str, latest: datetime) -> Verdict:
    event = cast(IncidentEvent, event)  # a model or its fast struct
    verdict = _common(event, key, latest)
    if verdict:
        return verdict
    problem = _implausible("detected_at", event.detected_at, latest)
    if problem:
        return RejectReason.IMPLAUSIBLE_TIME, problem
    owner = _system_owners().get(event.target_system)
    if owner is None:
        return RejectReason.UNKNOWN_REFERENCE, f"unknown state system {event.target_system!r}"
    if owner != event.agency:
        return RejectReason.UNKNOWN_REFERENCE, (
            f"state system {event.target_system!r} belongs to {owner!r}, not {event.agency!r}"
        )
    return None


def _document(event: Event, key: str, latest: datetime) -> Verdict:
    event = cast(DocumentEvent, event)  # a model or its fast struct
    verdict = _common(event, key, latest)
    if verdict:
        return verdict
    problem = _implausible("sent_at", event.sent_at, latest)
    if problem:
        return RejectReason.IMPLAUSIBLE_TIME, problem
    for code in (event.sender, *event.receivers, *([event.receiver] if event.receiver else [])):
        problem = _unknown_agency(code)
        if problem:
            return RejectReason.UNKNOWN_REFERENCE, problem
    return None


ADMISSION_CHECKS: dict[str, AdmissionCheck] = {
    "portal.dossiers": _dossier,
    "portal.payments": _payment,
    "ndxp.transactions": _ndxp,
    "cyber.incidents": _incident,
    "vdxp.documents": _document,
}


def admission_check(feed: str) -> AdmissionCheck:
    try:
        return ADMISSION_CHECKS[feed]
    except KeyError:
        known = sorted(ADMISSION_CHECKS)
        raise KeyError(f"no admission check for feed {feed!r}; feeds: {known}") from None


# The common case in one expression per feed: every reference known and the key right. When a
# quick check says no (or the time is out of range), the full check above says why.
QuickCheck = Callable[[Any, str], bool]


def _quick_ndxp(event: Any, key: str) -> bool:
    return (
        event.agency == key
        and key in _agency_codes()
        and _service_providers().get(event.service) == event.provider
    )


def _quick_dossier(event: Any, key: str) -> bool:
    return (
        event.agency == key
        and key in _agency_codes()
        and event.procedure in _procedure_codes()
        and event.submitted_at.timestamp() >= EARLIEST_TIMESTAMP
    )


def _quick_payment(event: Any, key: str) -> bool:
    return event.agency == key and key in _agency_codes() and event.procedure in _procedure_codes()


def _quick_incident(event: Any, key: str) -> bool:
    return (
        event.agency == key
        and _system_owners().get(event.target_system) == key
        and key in _agency_codes()
        and event.detected_at.timestamp() >= EARLIEST_TIMESTAMP
    )


def _quick_document(event: Any, key: str) -> bool:
    codes = _agency_codes()
    return (
        event.agency == key
        and key in codes
        and event.sender in codes
        and (event.receiver is None or event.receiver in codes)
        and all(code in codes for code in event.receivers)
        and event.sent_at.timestamp() >= EARLIEST_TIMESTAMP
    )


QUICK_CHECKS: dict[str, QuickCheck] = {
    "portal.dossiers": _quick_dossier,
    "portal.payments": _quick_payment,
    "ndxp.transactions": _quick_ndxp,
    "cyber.incidents": _quick_incident,
    "vdxp.documents": _quick_document,
}
assert set(QUICK_CHECKS) == set(ADMISSION_CHECKS)
