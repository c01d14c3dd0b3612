"""Each figure of domain.md's calibration table is reproduced within ±2% at a scale suited to it.

Every number is counted from generated events (`CalibrationTally`), never taken from the
simulator's parameters. Scales are chosen so each figure rests on thousands of events.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from connectors import calibration as cal
from connectors.calibration_report import CalibrationTally
from connectors.simulation import SimulationConfig, simulate

pytestmark = pytest.mark.slow


def tally(
    feeds: tuple[str, ...], scale: float, start: datetime, end: datetime, seed: int = 2024
) -> CalibrationTally:
    result = CalibrationTally()
    for feed_name, event in simulate(
        SimulationConfig(seed=seed, scale=scale, feeds=feeds), start, end
    ):
        result.add(feed_name, event)
    return result


def assert_close(measured: float, expected: float, tolerance: float = 0.02) -> None:
    assert measured == pytest.approx(expected, rel=tolerance), f"{measured} vs {expected}"


PORTAL_SCALE = 0.02
NDXP_SCALE = 0.001
DOCUMENT_SCALE = 0.1


@pytest.fixture(scope="module")
def portal() -> CalibrationTally:
    # The Portal figures are published for 20 Sep to 23 Oct 2024: simulate exactly that window.
    return tally(("portal.dossiers", "portal.payments"), PORTAL_SCALE, *cal.PORTAL_WINDOW)


@pytest.fixture(scope="module")
def october_documents() -> CalibrationTally:
    return tally(("vdxp.documents",), DOCUMENT_SCALE, *cal.OCTOBER_2024)


@pytest.fixture(scope="module")
def october_ndxp() -> CalibrationTally:
    return tally(("ndxp.transactions",), NDXP_SCALE, *cal.OCTOBER_2024)


def test_documents_on_the_axis_october_2024(october_documents: CalibrationTally) -> None:
    t = october_documents
    assert_close(t.documents_sent + t.documents_received, 1_078_654 * DOCUMENT_SCALE)
    assert_close(t.documents_sent, 302_765 * DOCUMENT_SCALE)
    assert_close(t.documents_received, 775_889 * DOCUMENT_SCALE)
    assert_close(t.documents_received / t.documents_sent, 2.56)


def test_documents_year_to_date_exceed_nine_million() -> None:
    scale = 0.01
    t = tally(("vdxp.documents",), scale, *cal.DOCUMENTS_YEAR_TO_DATE_WINDOW)
    total = (t.documents_sent + t.documents_received) / scale
    assert 9_000_000 < total < cal.DOCUMENTS_CUMULATIVE


def test_portal_dossiers_with_synchronised_status(portal: CalibrationTally) -> None:
    assert_close(sum(portal.dossiers.values()), 11_600_000 * PORTAL_SCALE)


def test_portal_online_dossiers_submitted_from_the_portal(portal: CalibrationTally) -> None:
    assert_close(portal.portal_online, 2_400_000 * PORTAL_SCALE)


def test_portal_online_payments_count_and_value(portal: CalibrationTally) -> None:
    assert_close(portal.payments, 982_500 * PORTAL_SCALE)
    assert_close(portal.payment_value, 994_000_000_000 * PORTAL_SCALE)


def test_full_process_online_rate_nationwide(portal: CalibrationTally) -> None:
    assert_close(sum(portal.full_online.values()) / sum(portal.dossiers.values()), 0.438)


def test_full_process_online_rate_ministries(portal: CalibrationTally) -> None:
    assert_close(portal.full_online["ministry"] / portal.dossiers["ministry"], 0.611)


def test_full_process_online_rate_provinces(portal: CalibrationTally) -> None:
    assert_close(portal.full_online["province"] / portal.dossiers["province"], 0.182)


@pytest.mark.parametrize(("level", "rate"), [("ministry", 0.5257), ("province", 0.6570)])
def test_digitised_dossiers_and_results(portal: CalibrationTally, level: str, rate: float) -> None:
    assert_close(portal.digitised[level] / portal.dossiers[level], rate)


@pytest.mark.parametrize(("level", "rate"), [("ministry", 0.0128), ("province", 0.1374)])
def test_reuse_of_digitised_data(portal: CalibrationTally, level: str, rate: float) -> None:
    assert_close(portal.reused[level] / portal.dossiers[level], rate)


def test_ndxp_transactions_a_day_on_average(october_ndxp: CalibrationTally) -> None:
    assert_close(october_ndxp.ndxp / 31 / NDXP_SCALE, 2_800_000)


def test_ndxp_connects_103_agencies_to_25_provider_services(october_ndxp: CalibrationTally) -> None:
    assert len(october_ndxp.ndxp_consumers) == 103
    assert len(october_ndxp.ndxp_services) == 10 + 15


def test_population_verification_match_rate(october_ndxp: CalibrationTally) -> None:
    t = october_ndxp
    assert_close(t.verification_ok / (t.verification_ok + t.verification_mismatch), 0.596)


@pytest.mark.parametrize(
    ("window", "count"),
    [
        (cal.month_window(2024, 10), 204),
        (cal.month_window(2024, 9), 250),
        (cal.month_window(2023, 10), 1_010),
        ((cal.local_day(2024, 1, 1), cal.local_day(2024, 11, 1)), 4_483),
    ],
)
def test_cyber_incidents(window: tuple[datetime, datetime], count: int) -> None:
    assert_close(tally(("cyber.incidents",), 1.0, *window).incidents, count)


def test_whole_country_averages_tens_of_events_a_second() -> None:
    per_second = sum(cal.FEED_EVENTS_PER_SECOND.values())
    assert 35 < per_second < 55  # domain.md: "about 40 events a second", NDXP dominating
    assert cal.FEED_EVENTS_PER_SECOND["ndxp.transactions"] > per_second / 2
