"""Reference data is complete and consistent: both provincial schemes, ministries, NDXP, systems."""

from __future__ import annotations

from collections import Counter
from datetime import date

from connectors import calibration as cal
from govpulse.reference.agencies import (
    AgencyLevel,
    Scheme,
    agency,
    all_agencies,
    ministries,
    other_agencies,
    provinces,
    scheme_for,
)
from govpulse.reference.catalogues import (
    ServiceKind,
    incident_categories,
    ndxp_services,
    procedures,
)
from govpulse.reference.systems import state_systems


def test_2024_scheme_has_63_provincial_units_with_unique_codes() -> None:
    units = provinces(Scheme.PROVINCES_63)
    assert len(units) == cal.PROVINCES_2024 == 63
    assert len({u.code for u in units}) == 63
    assert sum(u.kind == "city" for u in units) == 5
    assert agency("01").name_vi == "Hà Nội"
    assert agency("79").name_vi == "Thành phố Hồ Chí Minh"


def test_2025_scheme_has_34_units_covering_every_2024_unit_once() -> None:
    units = provinces(Scheme.PROVINCES_34)
    assert len(units) == cal.PROVINCES_2025 == 34
    assert len({u.code for u in units}) == 34
    merged = Counter(code for u in units for code in u.merged_from)
    assert set(merged) == {u.code for u in provinces(Scheme.PROVINCES_63)}
    assert set(merged.values()) == {1}
    assert sum(u.kind == "city" for u in units) == 6


def test_coordinates_lie_in_vietnam_for_the_map() -> None:
    for scheme in Scheme:
        for unit in provinces(scheme):
            assert unit.lat is not None and 8 < unit.lat < 24, unit
            assert unit.lon is not None and 102 < unit.lon < 110, unit


def test_scheme_follows_the_date_of_the_data() -> None:
    assert scheme_for(date(2024, 10, 1)) is Scheme.PROVINCES_63
    assert scheme_for(date(2025, 6, 30)) is Scheme.PROVINCES_63
    assert scheme_for(date(2025, 7, 1)) is Scheme.PROVINCES_34


def test_ministries_and_ndxp_members_add_up_to_the_published_counts() -> None:
    assert len(ministries()) == cal.MINISTRIES_2024 == 20
    # 63 provinces + 20 ministries = the 83 "bộ, tỉnh"; with 20 more bodies, NDXP's 103 agencies.
    assert len(all_agencies()) == cal.NDXP_AGENCIES == 103
    assert len(other_agencies()) == 20
    assert {a.level for a in all_agencies().values()} == set(AgencyLevel)


def test_ndxp_services_are_10_national_databases_and_15_systems_with_known_providers() -> None:
    services = ndxp_services()
    kinds = Counter(s.kind for s in services)
    assert kinds[ServiceKind.NATIONAL_DATABASE] == cal.NDXP_NATIONAL_DATABASES
    assert kinds[ServiceKind.INFORMATION_SYSTEM] == cal.NDXP_INFORMATION_SYSTEMS
    assert all(s.provider in all_agencies() for s in services)
    assert any(s.code == "population_identity" and s.verification for s in services)


def test_procedures_cover_both_levels_and_categories_are_the_seven() -> None:
    levels = Counter(p.level for p in procedures())
    assert levels["ministry"] >= 15 and levels["province"] >= 15
    assert all(p.due_working_days >= 1 and p.fee_vnd >= 0 for p in procedures())
    assert {c.code for c in incident_categories()} == {
        "malware",
        "phishing",
        "ddos",
        "defacement",
        "intrusion",
        "ransomware",
        "data_leak",
    }


def test_state_systems_registry_matches_the_published_counts() -> None:
    systems = state_systems()
    assert len(systems) == cal.STATE_SYSTEMS == 8_790
    classified = [s for s in systems if s.protection_level is not None]
    assert len(classified) == cal.STATE_SYSTEMS_CLASSIFIED == 7_802
    assert round(len(classified) / len(systems), 3) == 0.888
    assert len({s.code for s in systems}) == len(systems)
    assert {s.protection_level for s in classified} == {1, 2, 3, 4, 5}
    assert state_systems() == systems  # fixed seed: the same registry every time
