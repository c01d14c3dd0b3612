"""The published figures of report 200/BC-BTTTT (and seeds 003, 004), brought to a month.

The figures themselves are defined once, in `connectors.calibration`. Counts published over
another window (the Portal's 20 Sep to 23 Oct 2024) are taken pro rata to the month by working
activity: the office-hours calendar of `connectors.calendar` (working days and hours, public
holidays, month-end peaks), the same weights the simulation spreads them with. Every figure says
how it was obtained (`basis`). Volumes are multiplied by `scale` (a namespace holding a
simulation at scale 0.01 is compared with 1% of the country); rates are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from connectors import calibration as cal
from connectors.quota import RateSchedule, expected_count


@dataclass(frozen=True, slots=True)
class Reference:
    """A published figure for the report's month, or None with the reason in `basis`."""

    value: float | None
    basis: str
    seed: str


@dataclass(frozen=True, slots=True)
class NotModelled:
    """A published figure the report cannot compute from the pipeline's tables, and why."""

    label: str
    published: str
    seed: str
    reason: str


def _window_text(start: datetime, end: datetime) -> str:
    last = end - timedelta(days=1)
    return f"{start:%d %b %Y} to {last:%d %b %Y}"


def _scaled(scale: float) -> str:
    return "" if scale == 1.0 else f", × scale {scale:g}"


def _pro_rata(
    schedule: RateSchedule,
    count: float,
    window: tuple[datetime, datetime],
    label: str,
    start: datetime,
    end: datetime,
    scale: float,
) -> tuple[float, str]:
    """The share of `count` (published over `window`) that falls in [start, end), and its basis."""
    if window == (start, end):
        return count * scale, f"{label}, {_window_text(*window)}{_scaled(scale)}"
    share = expected_count(schedule, start, end, 1.0) / expected_count(schedule, *window, 1.0)
    return count * share * scale, (
        f"{label}, {_window_text(*window)}: {count:,.0f}; pro rata by working activity "
        f"to this month (× {share:.4f}){_scaled(scale)}"
    )


def references(start: datetime, end: datetime, scale: float) -> dict[str, Reference]:
    """The published figure of every indicator of `monthly.FIGURES`, for [start, end)."""
    s = cal.schedules()
    refs: dict[str, Reference] = {}

    def pro_rata(
        key: str,
        schedule: RateSchedule,
        count: float,
        window: tuple[datetime, datetime],
        label: str,
    ) -> None:
        value, basis = _pro_rata(schedule, count, window, label, start, end, scale)
        refs[key] = Reference(value, basis, "002")

    october, portal = cal.OCTOBER_2024, cal.PORTAL_WINDOW
    pro_rata("documents_sent", s.documents, cal.DOCUMENTS_SENT, october, "documents sent")
    pro_rata(
        "documents_received", s.documents, cal.DOCUMENTS_RECEIVED, october, "documents received"
    )
    pro_rata("documents_total", s.documents, cal.DOCUMENTS_TOTAL, october, "documents on the Axis")
    refs["deliveries_failed"] = Reference(None, "not published", "")
    pro_rata("dossiers_synced", s.dossiers, cal.DOSSIERS_SYNCED, portal, "dossiers synchronised")
    pro_rata(
        "portal_online",
        s.dossiers,
        cal.ONLINE_DOSSIERS_FROM_PORTAL,
        portal,
        "online dossiers submitted from the Portal",
    )
    pro_rata("payments", s.dossiers, cal.ONLINE_PAYMENTS, portal, "online payments")
    pro_rata(
        "payment_value_vnd",
        s.dossiers,
        cal.ONLINE_PAYMENT_VALUE_VND,
        portal,
        "online payment value (the text's 994 'triệu' VND can only mean billion)",
    )

    to_19_october = "rate, year to 19 Oct 2024"
    refs["full_online_rate"] = Reference(cal.FULL_ONLINE_RATE, to_19_october, "002")
    refs["full_online_rate_ministries"] = Reference(
        cal.FULL_ONLINE_RATE_MINISTRIES, to_19_october, "002"
    )
    refs["full_online_rate_provinces"] = Reference(
        cal.FULL_ONLINE_RATE_PROVINCES, to_19_october, "002"
    )
    for level, plural in (("ministry", "ministries"), ("province", "provinces")):
        refs[f"digitised_rate_{plural}"] = Reference(
            cal.DIGITISED_RATE[level], "rate, October 2024 report", "002"
        )
        refs[f"data_reuse_rate_{plural}"] = Reference(
            cal.DATA_REUSE_RATE[level], "rate, October 2024 report", "002"
        )

    refs["ndxp_per_day"] = Reference(
        cal.NDXP_TRANSACTIONS_PER_DAY * scale,
        f"about 2.8 million a day on average{_scaled(scale)}",
        "003",
    )
    refs["ndxp_agencies"] = Reference(
        cal.NDXP_AGENCIES, "agencies connected, October 2024 (those that called this month)", "002"
    )
    refs["verification_requests"] = Reference(
        None, "1,014,473,517 requests to June 2023 are cumulative: no monthly figure", "004"
    )
    refs["verification_match_rate"] = Reference(
        cal.VERIFICATION_MATCH_RATE, "rate, 604,825,046 of 1,014,473,517 to June 2023", "004"
    )
    refs["incidents"] = _incidents(start, end, scale)
    return refs


def _incidents(start: datetime, end: datetime, scale: float) -> Reference:
    year, month = start.year, start.month
    published = {(2023, 10), (2024, 9), (2024, 10)}
    if (start, end) != cal.month_window(year, month):
        return Reference(None, "published per month only", "002")
    if (year, month) in published:
        count = cal.INCIDENTS_BY_MONTH[(year, month)]
        return Reference(count * scale, f"{count:,} in {start:%B %Y}{_scaled(scale)}", "002")
    if (year, month) in cal.INCIDENTS_BY_MONTH:
        count = cal.INCIDENTS_BY_MONTH[(year, month)]
        return Reference(
            count * scale,
            f"not published for {start:%B %Y}: January to October 2024 (4,483) less September "
            f"and October, spread evenly ({count:,}){_scaled(scale)}",
            "002",
        )
    return Reference(None, f"not published for {start:%B %Y}", "002")


NOT_MODELLED: tuple[NotModelled, ...] = (
    NotModelled(
        "documents on the Axis since it opened",
        "44.2 million",
        "002",
        "cumulative since the Axis opened: the pipeline holds only what it received",
    ),
    NotModelled(
        "documents on the Axis, 1 Jan to 20 Oct 2024",
        "over 9 million",
        "002",
        "a year-to-date figure, not a month's: report each month of a namespace holding them",
    ),
    NotModelled(
        "online public services on the Portal",
        "4,522",
        "002",
        "a catalogue count; the simulation models 40 procedures, and no feed carries the catalogue",
    ),
    NotModelled(
        "Portal cumulative figures",
        "373 million dossiers synchronised, 63.3 million online, "
        "37.9 million payments worth 18,383 billion VND",
        "002",
        "cumulative since the Portal opened in 2019: no events before the replay",
    ),
    NotModelled(
        "systems and databases connected to NDXP",
        "388 systems of 95 agencies (April 2024); "
        "10 national databases, 15 information systems (October 2024)",
        "003, 002",
        "a registry of connections, not traffic: the feed shows 25 provider services in use",
    ),
    NotModelled(
        "state information systems classified by protection level",
        "7,802 of 8,790 (88.8%)",
        "002",
        "a registry (synthetic in reference data), not an event feed: incidents show only "
        "the systems hit",
    ),
    NotModelled(
        "cyber incidents, January to October 2024",
        "4,483",
        "002",
        "a year-to-date figure, not a month's",
    ),
)
