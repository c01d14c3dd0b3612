"""The monthly report: each indicator computed from the stored rollups, beside the published one.

Pure: `build` takes the rows `rollups.read_month` returned and the references of `published`, and
returns a `MonthlyReport` that the formats render. Definitions (the same as the calibration's):
- dossiers synchronised: `submitted` status changes (one per dossier), every channel and mode;
- online dossiers from the Portal: submitted through the Portal, full-process or partly online;
- full-process online rate: full-process online submissions / submissions, nationally and by the
  level of the agency (ministries, provinces) in the 2024 scheme;
- online payments: successful payment transactions and their amount;
- documents received: receipts delivered or acknowledged (failed deliveries apart);
- NDXP transactions a day: calls in the month / days in the month;
- population database verifications: calls of its service; match rate = exact matches / (exact
  matches + mismatches), as the published 604.8 of 1,014.5 million (errors and timeouts apart);
- cyber incidents: incidents detected (their first step) in the month.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from reports.published import NOT_MODELLED, NotModelled, Reference
from reports.rollups import VIETNAM, AgencyInfo, MonthData

POPULATION_SERVICE = "population_identity"
ONLINE_MODES = frozenset({"full_online", "partial_online"})
RECEIVED = frozenset({"delivered", "acknowledged"})


class Unit(StrEnum):
    COUNT = "count"
    VND = "VND"
    RATE = "rate"
    PER_DAY = "a day"


@dataclass(frozen=True, slots=True)
class FigureSpec:
    section: str
    label: str
    unit: Unit


_AXIS, _PORTAL, _ONLINE = "Document Interconnection Axis", "Public Service Portal", "Online rates"
_NDXP, _CYBER = "NDXP data sharing", "Cyber security"
# The report's indicators, in the order it shows them.
FIGURES: dict[str, FigureSpec] = {
    "documents_sent": FigureSpec(_AXIS, "documents sent", Unit.COUNT),
    "documents_received": FigureSpec(_AXIS, "documents received", Unit.COUNT),
    "documents_total": FigureSpec(_AXIS, "documents on the Axis (sent + received)", Unit.COUNT),
    "deliveries_failed": FigureSpec(_AXIS, "failed deliveries", Unit.COUNT),
    "dossiers_synced": FigureSpec(_PORTAL, "dossiers with synchronised status", Unit.COUNT),
    "portal_online": FigureSpec(_PORTAL, "online dossiers submitted from the Portal", Unit.COUNT),
    "payments": FigureSpec(_PORTAL, "online payments", Unit.COUNT),
    "payment_value_vnd": FigureSpec(_PORTAL, "online payment value", Unit.VND),
    "full_online_rate": FigureSpec(_ONLINE, "full-process online rate, national", Unit.RATE),
    "full_online_rate_ministries": FigureSpec(
        _ONLINE, "full-process online rate, ministries", Unit.RATE
    ),
    "full_online_rate_provinces": FigureSpec(
        _ONLINE, "full-process online rate, provinces", Unit.RATE
    ),
    "digitised_rate_ministries": FigureSpec(_ONLINE, "digitised dossiers, ministries", Unit.RATE),
    "digitised_rate_provinces": FigureSpec(_ONLINE, "digitised dossiers, provinces", Unit.RATE),
    "data_reuse_rate_ministries": FigureSpec(
        _ONLINE, "reuse of digitised data, ministries", Unit.RATE
    ),
    "data_reuse_rate_provinces": FigureSpec(
        _ONLINE, "reuse of digitised data, provinces", Unit.RATE
    ),
    "ndxp_per_day": FigureSpec(_NDXP, "NDXP transactions a day", Unit.PER_DAY),
    "ndxp_agencies": FigureSpec(_NDXP, "agencies calling NDXP", Unit.COUNT),
    "verification_requests": FigureSpec(
        _NDXP, "population database verification requests", Unit.COUNT
    ),
    "verification_match_rate": FigureSpec(
        _NDXP, "population database verification match rate", Unit.RATE
    ),
    "incidents": FigureSpec(_CYBER, "cyber incidents detected", Unit.COUNT),
}


@dataclass(frozen=True, slots=True)
class Figure:
    """One indicator: what the pipeline stored beside what was published."""

    key: str
    section: str
    label: str
    unit: Unit
    measured: float | None  # None: nothing to divide by (a rate over no dossiers, say)
    published: float | None  # None: no comparable published figure; `basis` says why
    basis: str
    seed: str

    @property
    def difference(self) -> float | None:
        if self.measured is None or self.published is None:
            return None
        return self.measured - self.published

    @property
    def deviation(self) -> float | None:
        """The difference relative to the published figure."""
        if self.difference is None or not self.published:
            return None
        return self.difference / self.published


@dataclass(frozen=True, slots=True)
class Tally:
    """Dossiers submitted and how many were full-process online, digitised, reusing data."""

    submitted: int = 0
    full_online: int = 0
    digitised: int = 0
    data_reused: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.submitted + other.submitted,
            self.full_online + other.full_online,
            self.digitised + other.digitised,
            self.data_reused + other.data_reused,
        )

    @property
    def rate(self) -> float | None:
        return self.full_online / self.submitted if self.submitted else None

    def share(self, part: int) -> float | None:
        return part / self.submitted if self.submitted else None


@dataclass(frozen=True, slots=True)
class AgencyFigures:
    code: str
    name_vi: str
    name_en: str
    level: str
    dossiers: Tally


@dataclass(frozen=True, slots=True)
class Day:
    """One Vietnam day of the month, for the trend."""

    day: date
    dossiers: Tally
    ministries: Tally
    provinces: Tally
    portal_online: int
    payments: int
    payment_value_vnd: int
    ndxp_calls: int
    documents_sent: int
    documents_received: int
    incidents: int


@dataclass(frozen=True)
class MonthlyReport:
    namespace: str
    month: str  # YYYY-MM
    start: datetime
    end: datetime
    scale: float
    figures: tuple[Figure, ...]
    days: tuple[Day, ...]
    agencies: tuple[AgencyFigures, ...]  # every agency with a dossier submitted, by code
    days_with_data: int
    not_modelled: tuple[NotModelled, ...] = field(default=NOT_MODELLED)

    @property
    def days_in_month(self) -> int:
        return len(self.days)

    def figure(self, key: str) -> Figure:
        for figure in self.figures:
            if figure.key == key:
                return figure
        raise KeyError(f"no figure {key!r}; figures: {', '.join(f.key for f in self.figures)}")

    def ranked(self, level: str) -> list[AgencyFigures]:
        """Agencies of a level with dossiers, highest full-process online rate first."""
        found = [a for a in self.agencies if a.level == level and a.dossiers.submitted]
        return sorted(found, key=lambda a: (-(a.dossiers.rate or 0.0), a.code))


def month_days(start: datetime, end: datetime) -> list[date]:
    first, last = start.astimezone(VIETNAM).date(), end.astimezone(VIETNAM).date()
    return [first + timedelta(days=i) for i in range((last - first).days)]


def _tally(mode: str, submitted: int, digitised: int, data_reused: int) -> Tally:
    return Tally(submitted, submitted if mode == "full_online" else 0, digitised, data_reused)


def _sum(tallies: Iterable[Tally]) -> Tally:
    total = Tally()
    for tally in tallies:
        total += tally
    return total


def build(
    data: MonthData, references: dict[str, Reference], *, namespace: str, month: str, scale: float
) -> MonthlyReport:
    """The report of `data` against `references` (one per key of `FIGURES`)."""
    days = month_days(data.start, data.end)
    levels = {code: info.level for code, info in data.agencies.items()}
    by_day_level: dict[tuple[date, str], Tally] = defaultdict(Tally)
    by_agency: dict[str, Tally] = defaultdict(Tally)
    portal_online: dict[date, int] = defaultdict(int)
    for row in data.dossiers:
        tally = _tally(row.mode, row.submitted, row.digitised, row.data_reused)
        by_day_level[row.day, levels.get(row.agency, "other")] += tally
        by_agency[row.agency] += tally
        if row.channel == "portal" and row.mode in ONLINE_MODES:
            portal_online[row.day] += row.submitted
    payments: dict[date, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for pay in data.payments:
        if pay.status == "success":
            count, value = payments[pay.day]
            payments[pay.day] = (count + pay.payments, value + pay.amount_vnd)
    ndxp: dict[date, int] = defaultdict(int)
    verification: dict[str, int] = defaultdict(int)  # by result
    for call in data.ndxp:
        ndxp[call.day] += call.calls
        if call.service == POPULATION_SERVICE:
            verification[call.result] += call.calls
    sent: dict[date, int] = defaultdict(int)
    received: dict[date, int] = defaultdict(int)
    failed = 0
    for doc in data.documents:
        if doc.action == "sent":
            sent[doc.day] += doc.documents
        elif doc.delivery_status in RECEIVED:
            received[doc.day] += doc.documents
        elif doc.delivery_status == "failed":
            failed += doc.documents
    incidents: dict[date, int] = defaultdict(int)
    for step in data.incidents:
        if step.stage == "detected":
            incidents[step.day] += step.events

    trend = tuple(
        Day(
            day=d,
            dossiers=_sum(t for (day, _), t in by_day_level.items() if day == d),
            ministries=by_day_level.get((d, "ministry"), Tally()),
            provinces=by_day_level.get((d, "province"), Tally()),
            portal_online=portal_online[d],
            payments=payments[d][0],
            payment_value_vnd=payments[d][1],
            ndxp_calls=ndxp[d],
            documents_sent=sent[d],
            documents_received=received[d],
            incidents=incidents[d],
        )
        for d in days
    )
    national = _sum(day.dossiers for day in trend)
    ministries = _sum(day.ministries for day in trend)
    provinces = _sum(day.provinces for day in trend)
    matched, mismatched = verification["ok"], verification["mismatch"]
    measured: dict[str, float | None] = {
        "documents_sent": sum(sent.values()),
        "documents_received": sum(received.values()),
        "documents_total": sum(sent.values()) + sum(received.values()),
        "deliveries_failed": failed,
        "dossiers_synced": national.submitted,
        "portal_online": sum(portal_online.values()),
        "payments": sum(p[0] for p in payments.values()),
        "payment_value_vnd": sum(p[1] for p in payments.values()),
        "full_online_rate": national.rate,
        "full_online_rate_ministries": ministries.rate,
        "full_online_rate_provinces": provinces.rate,
        "digitised_rate_ministries": ministries.share(ministries.digitised),
        "digitised_rate_provinces": provinces.share(provinces.digitised),
        "data_reuse_rate_ministries": ministries.share(ministries.data_reused),
        "data_reuse_rate_provinces": provinces.share(provinces.data_reused),
        "ndxp_per_day": sum(ndxp.values()) / len(days) if days else None,
        "ndxp_agencies": data.ndxp_agencies,
        "verification_requests": sum(verification.values()),
        "verification_match_rate": (
            matched / (matched + mismatched) if matched + mismatched else None
        ),
        "incidents": sum(incidents.values()),
    }
    figures = tuple(
        Figure(
            key,
            spec.section,
            spec.label,
            spec.unit,
            measured[key],
            references[key].value,
            references[key].basis,
            references[key].seed,
        )
        for key, spec in FIGURES.items()
    )
    return MonthlyReport(
        namespace=namespace,
        month=month,
        start=data.start,
        end=data.end,
        scale=scale,
        figures=figures,
        days=trend,
        agencies=tuple(
            _agency(code, data.agencies.get(code), tally)
            for code, tally in sorted(by_agency.items())
        ),
        days_with_data=sum(1 for day in trend if _has_data(day)),
    )


def _agency(code: str, info: AgencyInfo | None, tally: Tally) -> AgencyFigures:
    if info is None:  # a code the reference data of 2024 does not know: shown, never dropped
        return AgencyFigures(code, code, code, "other", tally)
    return AgencyFigures(code, info.name_vi, info.name_en, info.level, tally)


def _has_data(day: Day) -> bool:
    return bool(
        day.dossiers.submitted
        or day.payments
        or day.ndxp_calls
        or day.documents_sent
        or day.documents_received
        or day.incidents
    )
