"""The figures a simulation at scale 1.0 reproduces, with their sources, and what follows from them.

Seeds are the texts in ../shared/seeds (report 200/BC-BTTTT of November 2024 is seed 002).
Volume figures are counts over their own windows; the simulators spread them over time with the
activity profiles of `connectors.calendar`, so a simulated window reproduces each figure pro rata
to the activity it covers. Values marked "assumption" are modelling choices, not published figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from connectors.calendar import VIETNAM_TZ, Profile
from connectors.quota import RateSchedule, VolumeFigure


def local_day(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=VIETNAM_TZ)


def month_window(year: int, month: int) -> tuple[datetime, datetime]:
    start = local_day(year, month, 1)
    end = local_day(year + month // 12, month % 12 + 1, 1)
    return start, end


OCTOBER_2024 = month_window(2024, 10)

# --- Portal (seed 002): 20 Sep to 23 Oct 2024, both days included -------------------------
PORTAL_WINDOW = (local_day(2024, 9, 20), local_day(2024, 10, 24))
DOSSIERS_SYNCED = 11_600_000
ONLINE_DOSSIERS_FROM_PORTAL = 2_400_000
ONLINE_PAYMENTS = 982_500
# The text says 994 "triệu" (million); at about 1 VND per payment that cannot be right: billion.
ONLINE_PAYMENT_VALUE_VND = 994_000_000_000

# Full-process online rate to 19 Oct 2024 (seed 002).
FULL_ONLINE_RATE = 0.438
FULL_ONLINE_RATE_MINISTRIES = 0.611
FULL_ONLINE_RATE_PROVINCES = 0.182
# The three rates fix the ministries' share of dossiers: 0.611 w + 0.182 (1 - w) = 0.438.
MINISTRY_DOSSIER_SHARE = (FULL_ONLINE_RATE - FULL_ONLINE_RATE_PROVINCES) / (
    FULL_ONLINE_RATE_MINISTRIES - FULL_ONLINE_RATE_PROVINCES
)

# Digitised dossiers and results, and reuse of digitised data (seed 002).
DIGITISED_RATE = {"ministry": 0.5257, "province": 0.6570}
DATA_REUSE_RATE = {"ministry": 0.0128, "province": 0.1374}

# Assumptions: partially online shares, channel split, outcomes and timing.
PARTIAL_ONLINE_RATE = {"ministry": 0.10, "province": 0.25}
VNEID_SHARE_OF_OTHER_ONLINE = 0.2  # the rest of non-Portal online dossiers come via agency systems
POSTAL_SHARE_OF_OFFLINE = 0.08
ON_TIME_RATE = 0.95
REJECTED_RATE = 0.03
WITHDRAWN_RATE = 0.01
SUPPLEMENT_RATE = 0.07
PAYMENT_FAILURE_RATE = 0.04  # failed attempts before a successful payment

# --- Document Axis (seed 002): October 2024 -----------------------------------------------
DOCUMENTS_SENT = 302_765
DOCUMENTS_RECEIVED = 775_889
DOCUMENTS_TOTAL = DOCUMENTS_SENT + DOCUMENTS_RECEIVED  # 1,078,654
RECEIVERS_PER_DOCUMENT = DOCUMENTS_RECEIVED / DOCUMENTS_SENT
DOCUMENTS_YEAR_TO_DATE_WINDOW = (local_day(2024, 1, 1), local_day(2024, 10, 21))
DOCUMENTS_YEAR_TO_DATE_MIN = 9_000_000  # "over 9 million"
DOCUMENTS_CUMULATIVE = 44_200_000  # since the Axis opened: not reachable by a window simulation
DELIVERY_FAILURE_RATE = 0.004  # assumption
ACKNOWLEDGED_RATE = 0.75  # assumption: share of successful deliveries acknowledged by the receiver
INVALID_SIGNATURE_RATE = 0.003  # assumption

# --- NDXP (seeds 003 and 002) ---------------------------------------------------------------
NDXP_TRANSACTIONS_PER_DAY = 2_800_000
NDXP_AGENCIES = 103  # October 2024
NDXP_NATIONAL_DATABASES = 10
NDXP_INFORMATION_SYSTEMS = 15
# Population database verification to June 2023 (seed 004).
VERIFICATION_REQUESTS = 1_014_473_517
VERIFICATION_MATCHED = 604_825_046
VERIFICATION_MATCH_RATE = VERIFICATION_MATCHED / VERIFICATION_REQUESTS
NDXP_ERROR_RATE = 0.008  # assumption, well below the 5% alert threshold
NDXP_TIMEOUT_RATE = 0.004  # assumption
NDXP_TIMEOUT_MS = 30_000  # assumption: the platform's call timeout

# --- Cyber incidents (seed 002) -------------------------------------------------------------
INCIDENTS_BY_MONTH: dict[tuple[int, int], int] = {
    (2023, 10): 1_010,
    (2024, 9): 250,
    (2024, 10): 204,
}
INCIDENTS_JAN_TO_OCT_2024 = 4_483
# January to August 2024 share what the year-to-date total leaves after September and October.
_JAN_TO_AUG = (
    INCIDENTS_JAN_TO_OCT_2024 - INCIDENTS_BY_MONTH[(2024, 9)] - INCIDENTS_BY_MONTH[(2024, 10)]
)
for _month in range(1, 9):
    INCIDENTS_BY_MONTH[(2024, _month)] = _JAN_TO_AUG // 8 + (1 if _month <= _JAN_TO_AUG % 8 else 0)
INCIDENTS_DEFAULT_PER_MONTH = INCIDENTS_JAN_TO_OCT_2024 / 10
SEVERITY_WEIGHTS = {"low": 0.35, "medium": 0.40, "high": 0.20, "critical": 0.05}  # assumption

# --- State information systems (seed 002, October 2024) ------------------------------------
STATE_SYSTEMS = 8_790
STATE_SYSTEMS_CLASSIFIED = 7_802
PROTECTION_LEVEL_WEIGHTS = {1: 0.14, 2: 0.46, 3: 0.30, 4: 0.08, 5: 0.02}  # assumption

# --- Agencies (seed 002) --------------------------------------------------------------------
PROVINCES_2024 = 63
PROVINCES_2025 = 34
MINISTRIES_2024 = 20  # 83 "bộ, tỉnh" less the 63 provinces


@dataclass(frozen=True)
class Schedules:
    """The rate schedules of each simulated volume."""

    dossiers: RateSchedule
    documents: RateSchedule
    ndxp: RateSchedule
    incidents: RateSchedule


def _incident_figures() -> list[VolumeFigure]:
    figures = []
    for (year, month), count in sorted(INCIDENTS_BY_MONTH.items()):
        start, end = month_window(year, month)
        figures.append(VolumeFigure(count, start, end, Profile.AROUND_THE_CLOCK))
    return figures


def schedules() -> Schedules:
    october = OCTOBER_2024
    days_in_october = (october[1] - october[0]) / timedelta(days=1)
    dossiers = VolumeFigure(DOSSIERS_SYNCED, *PORTAL_WINDOW, Profile.OFFICE)
    documents = VolumeFigure(DOCUMENTS_SENT, *october, Profile.OFFICE)
    ndxp = VolumeFigure(NDXP_TRANSACTIONS_PER_DAY * days_in_october, *october, Profile.MACHINE)
    # Months without a published figure take the 2024 monthly average.
    incidents_default = VolumeFigure(
        INCIDENTS_DEFAULT_PER_MONTH, *october, Profile.AROUND_THE_CLOCK
    )
    return Schedules(
        dossiers=RateSchedule(Profile.OFFICE, dossiers),
        documents=RateSchedule(Profile.OFFICE, documents),
        ndxp=RateSchedule(Profile.MACHINE, ndxp),
        incidents=RateSchedule(Profile.AROUND_THE_CLOCK, incidents_default, _incident_figures()),
    )


def profile_window(profile: str) -> tuple[datetime, datetime]:
    """The window of a named profile: a month `YYYY-MM`, or a range `YYYY-MM-DD..YYYY-MM-DD`."""
    try:
        if ".." in profile:
            first, last = profile.split("..", 1)
            start_day, end_day = date.fromisoformat(first), date.fromisoformat(last)
            return (
                local_day(start_day.year, start_day.month, start_day.day),
                local_day(end_day.year, end_day.month, end_day.day) + timedelta(days=1),
            )
        year, month = (int(part) for part in profile.split("-"))
        if not 1 <= month <= 12:
            raise ValueError
        return month_window(year, month)
    except ValueError:
        raise ValueError(
            f"profile {profile!r} is neither a month (2024-10) nor a range of days "
            "(2024-09-20..2024-10-23)"
        ) from None


# Expected events per dossier: submitted, received, processing and a final status, plus two more
# for the 7% asked for a supplement (measured on simulated months: 4.1 to 4.15).
EVENTS_PER_DOSSIER = 4.13
_SECONDS_PER_DAY = 86_400.0

# Mean events per second of each feed at scale 1.0; `connectors run --rate` derives a scale from it.
FEED_EVENTS_PER_SECOND: dict[str, float] = {
    "portal.dossiers": DOSSIERS_SYNCED * EVENTS_PER_DOSSIER / (34 * _SECONDS_PER_DAY),
    "portal.payments": ONLINE_PAYMENTS * (1 + PAYMENT_FAILURE_RATE) / (34 * _SECONDS_PER_DAY),
    "ndxp.transactions": NDXP_TRANSACTIONS_PER_DAY / _SECONDS_PER_DAY,
    "cyber.incidents": 4 * INCIDENTS_JAN_TO_OCT_2024 / (305 * _SECONDS_PER_DAY),
    "vdxp.documents": DOCUMENTS_TOTAL / (31 * _SECONDS_PER_DAY),
}
