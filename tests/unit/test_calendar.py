"""Activity profiles and the apportionment of calibrated volumes."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from connectors.calendar import (
    VIETNAM_TZ,
    Profile,
    add_working_days,
    intensity,
    is_working_day,
    slots,
    total_weight,
)
from connectors.quota import RateSchedule, VolumeFigure, apportion, expected_count


def at(day: int, hour: int, minute: int = 0, month: int = 10) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=VIETNAM_TZ)


def test_office_profile_shape() -> None:
    tuesday = 15
    assert intensity(Profile.OFFICE, at(tuesday, 9)) > intensity(Profile.OFFICE, at(tuesday, 12))
    assert intensity(Profile.OFFICE, at(tuesday, 12)) > intensity(Profile.OFFICE, at(tuesday, 21))
    assert intensity(Profile.OFFICE, at(19, 9)) < intensity(
        Profile.OFFICE, at(tuesday, 9)
    )  # Saturday
    assert intensity(Profile.OFFICE, at(20, 9)) < intensity(Profile.OFFICE, at(19, 9))  # Sunday
    assert intensity(Profile.OFFICE, at(31, 9)) > intensity(
        Profile.OFFICE, at(tuesday, 9)
    )  # month end
    assert intensity(Profile.MACHINE, at(tuesday, 3)) > intensity(Profile.OFFICE, at(tuesday, 3))
    flat = {intensity(Profile.AROUND_THE_CLOCK, at(20, h)) for h in range(24)}
    assert max(flat) / min(flat) < 2


def test_slots_are_local_time_aware_and_cover_partial_edges() -> None:
    start, end = at(1, 9, 5), at(1, 10, 5)
    parts = list(slots(Profile.OFFICE, start, end))
    assert parts[0].start == start and parts[-1].end == end
    assert sum((p.end - p.start for p in parts[1:-1]), timedelta()) == timedelta(minutes=45)


def test_holidays_and_working_day_deadlines() -> None:
    assert not is_working_day(date(2024, 9, 2))  # National Day
    assert not is_working_day(date(2024, 2, 12))  # Tet
    assert is_working_day(date(2024, 10, 1))
    assert add_working_days(date(2024, 10, 4), 1) == date(2024, 10, 7)  # Friday + 1 = Monday


def test_apportionment_reproduces_a_figure_to_within_one_event() -> None:
    figure = VolumeFigure(302_765, at(1, 0), at(1, 0, month=11), Profile.OFFICE)
    schedule = RateSchedule(Profile.OFFICE, figure)
    counts = [n for _, n in apportion(schedule, figure.start, figure.end, 1.0)]
    assert sum(counts) == 302_765
    assert (
        abs(sum(n for _, n in apportion(schedule, figure.start, figure.end, 0.1)) - 30_276.5) <= 1
    )
    assert abs(expected_count(schedule, figure.start, figure.end, 1.0) - 302_765) < 1e-6
    assert all(n >= 0 for n in counts)
    assert total_weight(Profile.OFFICE, at(1, 0), at(2, 0)) > total_weight(
        Profile.OFFICE, at(5, 0), at(6, 0)
    )
