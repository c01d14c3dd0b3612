"""When Vietnam's public administration is busy: activity profiles in local time (UTC+7).

Each profile gives a relative intensity per 15-minute slot. Simulators multiply it by a calibrated
rate, so the shape (working hours, lunch dip, Saturday mornings, month-end peaks, public holidays)
never changes the calibrated totals, only where in time the events fall.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from functools import cache

VIETNAM_TZ = timezone(timedelta(hours=7), name="ICT")
SLOT = timedelta(minutes=15)

# Public holidays (days off) of 2023-2025, including Tet and the official swaps.
# Source: the government's annual holiday notices; Tet dates from the lunar calendar.
PUBLIC_HOLIDAYS: frozenset[date] = frozenset(
    [date(2023, 1, 2)]
    + [date(2023, 1, 20) + timedelta(days=i) for i in range(7)]
    + [date(2023, 4, 29), date(2023, 4, 30), date(2023, 5, 1), date(2023, 5, 2), date(2023, 5, 3)]
    + [date(2023, 9, 1), date(2023, 9, 2), date(2023, 9, 3), date(2023, 9, 4)]
    + [date(2024, 1, 1)]
    + [date(2024, 2, 8) + timedelta(days=i) for i in range(7)]
    + [
        date(2024, 4, 18),
        date(2024, 4, 27),
        date(2024, 4, 28),
        date(2024, 4, 29),
        date(2024, 4, 30),
        date(2024, 5, 1),
    ]
    + [date(2024, 8, 31), date(2024, 9, 1), date(2024, 9, 2), date(2024, 9, 3)]
    + [date(2025, 1, 1)]
    + [date(2025, 1, 25) + timedelta(days=i) for i in range(9)]
    + [date(2025, 4, 7), date(2025, 4, 30), date(2025, 5, 1), date(2025, 5, 2)]
    + [date(2025, 8, 30), date(2025, 8, 31), date(2025, 9, 1), date(2025, 9, 2)]
)


class Profile(StrEnum):
    OFFICE = "office"  # people and civil servants: working hours dominate
    MACHINE = "machine"  # system-to-system traffic: office-led, with batch jobs at night
    AROUND_THE_CLOCK = "around_the_clock"  # attacks do not keep office hours


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in PUBLIC_HOLIDAYS


@cache
def _month_end_days(year: int, month: int) -> frozenset[date]:
    """The last two working days of a month, when reports and dossiers pile up."""
    last = _calendar.monthrange(year, month)[1]
    days = [
        date(year, month, d) for d in range(last, 0, -1) if is_working_day(date(year, month, d))
    ]
    return frozenset(days[:2])


def _office_hour_shape(minutes: int) -> float:
    """Weekday intensity by minute of the local day (07:30-17:00 with a lunch dip)."""
    if minutes < 6 * 60:
        return 0.03
    if minutes < 7 * 60 + 30:
        return 0.15
    if minutes < 8 * 60:
        return 0.7
    if minutes < 11 * 60 + 30:
        return 1.0
    if minutes < 13 * 60 + 30:
        return 0.35
    if minutes < 17 * 60:
        return 0.95
    if minutes < 22 * 60:
        return 0.14
    return 0.05


def _saturday_shape(minutes: int) -> float:
    if 7 * 60 + 30 <= minutes < 11 * 60 + 30:
        return 0.3
    return 0.04 if 6 * 60 <= minutes < 22 * 60 else 0.02


def _rest_day_shape(minutes: int) -> float:
    return 0.05 if 7 * 60 <= minutes < 22 * 60 else 0.02


def intensity(profile: Profile, slot_start: datetime) -> float:
    """Relative activity of the 15-minute slot starting at `slot_start` (any timezone)."""
    local = slot_start.astimezone(VIETNAM_TZ)
    minutes = local.hour * 60 + local.minute
    day = local.date()
    if profile is Profile.AROUND_THE_CLOCK:
        # A mild daytime bump: more systems are exposed and watched during the day.
        return 1.2 if 8 * 60 <= minutes < 20 * 60 else 0.8
    if day in PUBLIC_HOLIDAYS or day.weekday() == 6:
        shape = _rest_day_shape(minutes)
    elif day.weekday() == 5:
        shape = _saturday_shape(minutes)
    else:
        shape = _office_hour_shape(minutes)
        if day in _month_end_days(day.year, day.month):
            shape *= 1.35
        elif day.day == 20:
            # Monthly reporting deadline (social insurance, statistics): a smaller spike.
            shape *= 1.15
    if profile is Profile.MACHINE:
        # Scheduled synchronisation jobs keep a floor of traffic through the night.
        return 0.12 + 0.88 * shape
    return shape


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime
    weight: float


def slots(profile: Profile, start: datetime, end: datetime) -> Iterator[Slot]:
    """Consecutive slots covering [start, end), aligned to 15-minute boundaries in UTC.

    A partial first or last slot carries a weight proportional to the part it covers.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    start = start.astimezone(UTC)
    end = end.astimezone(UTC)
    aligned = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0)
    cursor = aligned
    while cursor < end:
        slot_end = cursor + SLOT
        lo, hi = max(cursor, start), min(slot_end, end)
        if hi > lo:
            # Feeds stamp events in Vietnam time, as the national platforms do.
            weight = intensity(profile, cursor) * ((hi - lo) / SLOT)
            yield Slot(lo.astimezone(VIETNAM_TZ), hi.astimezone(VIETNAM_TZ), weight)
        cursor = slot_end


def total_weight(profile: Profile, start: datetime, end: datetime) -> float:
    return sum(slot.weight for slot in slots(profile, start, end))


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), VIETNAM_TZ)


@cache
def add_working_days(day: date, days: int) -> date:
    """The working day `days` working days after `day` (statutory processing deadlines)."""
    cursor = day
    remaining = days
    while remaining > 0:
        cursor += timedelta(days=1)
        if is_working_day(cursor):
            remaining -= 1
    return cursor
