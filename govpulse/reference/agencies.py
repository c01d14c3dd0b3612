"""Agencies: provincial units (2024 and 2025 schemes), ministries and other NDXP members.

In 2024 there were 63 provincial units; since 1 July 2025 there are 34. Reference data says which
scheme it follows, and a replay of 2024 data uses the 2024 scheme (domain.md, "Time and place").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache

from govpulse.reference.csvfile import ReferenceDataError, read_rows


class Scheme(StrEnum):
    PROVINCES_63 = "2024"  # in force until 30 June 2025
    PROVINCES_34 = "2025"  # in force since 1 July 2025


SCHEME_34_START = date(2025, 7, 1)


def scheme_for(day: date) -> Scheme:
    return Scheme.PROVINCES_34 if day >= SCHEME_34_START else Scheme.PROVINCES_63


class AgencyLevel(StrEnum):
    MINISTRY = "ministry"
    PROVINCE = "province"
    OTHER = "other"  # state bodies and enterprises connected to NDXP


@dataclass(frozen=True, slots=True)
class Agency:
    code: str
    name_vi: str
    name_en: str
    level: AgencyLevel
    region: str = ""
    lat: float | None = None
    lon: float | None = None
    # Relative volume of administrative work: population for provinces, a modelled weight else.
    weight: float = 1.0
    merged_from: tuple[str, ...] = ()
    kind: str = ""  # province|city for provinces, state_body|state_enterprise for others


def _province(row: dict[str, str]) -> Agency:
    return Agency(
        code=row["code"],
        name_vi=row["name_vi"],
        name_en=row["name_en"],
        level=AgencyLevel.PROVINCE,
        region=row["region"],
        lat=float(row["lat"]),
        lon=float(row["lon"]),
        weight=float(row["population_thousands"]),
        merged_from=tuple(c for c in row.get("merged_from", "").split(";") if c),
        kind=row["kind"],
    )


def _ministry(row: dict[str, str]) -> Agency:
    return Agency(
        code=row["code"],
        name_vi=row["name_vi"],
        name_en=row["name_en"],
        level=AgencyLevel.MINISTRY,
        weight=float(row["dossier_weight"]),
    )


def _other(row: dict[str, str]) -> Agency:
    return Agency(
        code=row["code"],
        name_vi=row["name_vi"],
        name_en=row["name_en"],
        level=AgencyLevel.OTHER,
        kind=row["kind"],
    )


_PROVINCE_FILES = {
    Scheme.PROVINCES_63: "provinces_2024.csv",
    Scheme.PROVINCES_34: "provinces_2025.csv",
}


@cache
def provinces(scheme: Scheme = Scheme.PROVINCES_63) -> tuple[Agency, ...]:
    return read_rows(_PROVINCE_FILES[scheme], _province)


@cache
def ministries() -> tuple[Agency, ...]:
    return read_rows("ministries_2024.csv", _ministry)


@cache
def other_agencies() -> tuple[Agency, ...]:
    return read_rows("ndxp_other_agencies.csv", _other)


@cache
def all_agencies(scheme: Scheme = Scheme.PROVINCES_63) -> dict[str, Agency]:
    """Every agency of a scheme by code; codes are unique across levels."""
    everything = (*ministries(), *provinces(scheme), *other_agencies())
    by_code = {agency.code: agency for agency in everything}
    if len(by_code) != len(everything):
        raise ReferenceDataError(f"agency codes clash across files in scheme {scheme.value}")
    return by_code


def agency(code: str, scheme: Scheme = Scheme.PROVINCES_63) -> Agency:
    """One agency, or an error that says how to list the valid codes."""
    try:
        return all_agencies(scheme)[code]
    except KeyError:
        raise KeyError(
            f"unknown agency {code!r} in the {scheme.value} scheme; "
            "`govpulse reference agencies` lists the valid codes"
        ) from None
