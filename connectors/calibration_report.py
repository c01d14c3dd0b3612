"""Measuring simulated events against the calibration figures (`govpulse simulate` summary).

`CalibrationTally` counts, from the events alone, each figure of domain.md's table; `compare`
sets them beside the published figure pro-rated to the window and scale, with the deviation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectors import calibration as cal
from connectors.quota import expected_count
from govpulse.events import (
    DocumentEvent,
    DossierEvent,
    Event,
    IncidentEvent,
    NdxpTransaction,
    PaymentEvent,
)
from govpulse.events.document import DocumentAction
from govpulse.events.dossier import ONLINE_MODES, DossierChannel, DossierMode, DossierStatus
from govpulse.events.incident import IncidentStage
from govpulse.events.ndxp import NdxpResult
from govpulse.events.payment import PaymentStatus
from govpulse.reference.agencies import AgencyLevel, all_agencies
from govpulse.reference.catalogues import ndxp_services

TOLERANCE = 0.02


@dataclass
class CalibrationTally:
    """Counts the figures of the calibration table from a stream of events."""

    dossiers: Counter[str] = field(default_factory=Counter)  # by level
    full_online: Counter[str] = field(default_factory=Counter)
    digitised: Counter[str] = field(default_factory=Counter)
    reused: Counter[str] = field(default_factory=Counter)
    portal_online: int = 0
    payments: int = 0
    payment_value: int = 0
    documents_sent: int = 0
    documents_received: int = 0
    ndxp: int = 0
    verification_ok: int = 0
    verification_mismatch: int = 0
    ndxp_consumers: set[str] = field(default_factory=set)
    ndxp_services: set[str] = field(default_factory=set)
    incidents: int = 0
    events: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._levels = {code: a.level.value for code, a in all_agencies().items()}
        self._verification = {s.code for s in ndxp_services() if s.verification}

    def add(self, feed: str, event: Event) -> None:
        self.events[feed] += 1
        if isinstance(event, DossierEvent):
            if event.status is DossierStatus.SUBMITTED:
                level = self._levels[event.agency]
                self.dossiers[level] += 1
                self.full_online[level] += event.mode is DossierMode.FULL_ONLINE
                self.digitised[level] += event.digitised
                self.reused[level] += event.data_reused
                self.portal_online += (
                    event.channel is DossierChannel.PORTAL and event.mode in ONLINE_MODES
                )
        elif isinstance(event, PaymentEvent):
            if event.status is PaymentStatus.SUCCESS:
                self.payments += 1
                self.payment_value += event.amount_vnd
        elif isinstance(event, DocumentEvent):
            if event.action is DocumentAction.SENT:
                self.documents_sent += 1
            else:
                self.documents_received += 1
        elif isinstance(event, NdxpTransaction):
            self.ndxp += 1
            self.ndxp_consumers.add(event.agency)
            self.ndxp_services.add(event.service)
            if event.service in self._verification:
                self.verification_ok += event.result is NdxpResult.OK
                self.verification_mismatch += event.result is NdxpResult.MISMATCH
        elif isinstance(event, IncidentEvent) and event.stage is IncidentStage.DETECTED:
            self.incidents += 1


@dataclass(frozen=True)
class FigureCheck:
    name: str
    seed: str
    expected: float
    measured: float

    @property
    def deviation(self) -> float:
        return (self.measured - self.expected) / self.expected if self.expected else 0.0

    @property
    def within_tolerance(self) -> bool:
        return abs(self.deviation) <= TOLERANCE


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def compare(
    tally: CalibrationTally, start: datetime, end: datetime, scale: float, feeds: set[str]
) -> list[FigureCheck]:
    """Each figure the simulated feeds can show, expected (pro rata) beside measured."""
    s = cal.schedules()
    days = (end - start) / timedelta(days=1)
    checks: list[FigureCheck] = []
    if "portal.dossiers" in feeds:
        dossiers = expected_count(s.dossiers, start, end, scale)
        ministry, province = AgencyLevel.MINISTRY.value, AgencyLevel.PROVINCE.value
        total = sum(tally.dossiers.values())
        checks += [
            FigureCheck("dossiers with synchronised status", "002", dossiers, total),
            FigureCheck(
                "online dossiers submitted from the Portal",
                "002",
                dossiers * cal.ONLINE_DOSSIERS_FROM_PORTAL / cal.DOSSIERS_SYNCED,
                tally.portal_online,
            ),
            FigureCheck(
                "full-process online rate",
                "002",
                cal.FULL_ONLINE_RATE,
                _ratio(sum(tally.full_online.values()), total),
            ),
        ]
        for level, target in (
            (ministry, cal.FULL_ONLINE_RATE_MINISTRIES),
            (province, cal.FULL_ONLINE_RATE_PROVINCES),
        ):
            checks.append(
                FigureCheck(
                    f"full-process online rate, {level}",
                    "002",
                    target,
                    _ratio(tally.full_online[level], tally.dossiers[level]),
                )
            )
        for level in (ministry, province):
            checks.append(
                FigureCheck(
                    f"digitised dossiers, {level}",
                    "002",
                    cal.DIGITISED_RATE[level],
                    _ratio(tally.digitised[level], tally.dossiers[level]),
                )
            )
            checks.append(
                FigureCheck(
                    f"reuse of digitised data, {level}",
                    "002",
                    cal.DATA_REUSE_RATE[level],
                    _ratio(tally.reused[level], tally.dossiers[level]),
                )
            )
    if "portal.payments" in feeds:
        dossiers = expected_count(s.dossiers, start, end, scale)
        payments = dossiers * cal.ONLINE_PAYMENTS / cal.DOSSIERS_SYNCED
        checks += [
            FigureCheck("online payments", "002", payments, tally.payments),
            FigureCheck(
                "online payment value (VND)",
                "002",
                payments * cal.ONLINE_PAYMENT_VALUE_VND / cal.ONLINE_PAYMENTS,
                tally.payment_value,
            ),
        ]
    if "vdxp.documents" in feeds:
        sent = expected_count(s.documents, start, end, scale)
        received = sent * cal.RECEIVERS_PER_DOCUMENT
        checks += [
            FigureCheck(
                "documents on the Axis",
                "002",
                sent + received,
                tally.documents_sent + tally.documents_received,
            ),
            FigureCheck("documents sent", "002", sent, tally.documents_sent),
            FigureCheck("documents received", "002", received, tally.documents_received),
        ]
    if "ndxp.transactions" in feeds:
        checks += [
            FigureCheck(
                "NDXP transactions a day",
                "003",
                expected_count(s.ndxp, start, end, scale) / days,
                tally.ndxp / days,
            ),
            FigureCheck(
                "population verification match rate",
                "004",
                cal.VERIFICATION_MATCH_RATE,
                _ratio(tally.verification_ok, tally.verification_ok + tally.verification_mismatch),
            ),
        ]
    if "cyber.incidents" in feeds:
        checks.append(
            FigureCheck(
                "cyber incidents",
                "002",
                expected_count(s.incidents, start, end, scale),
                tally.incidents,
            )
        )
    return checks
