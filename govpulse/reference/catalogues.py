"""Catalogues the feeds draw from: NDXP services, Portal procedures, incident categories."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from govpulse.reference.csvfile import parse_bool, read_rows


class ServiceKind(StrEnum):
    NATIONAL_DATABASE = "national_database"
    INFORMATION_SYSTEM = "information_system"


@dataclass(frozen=True, slots=True)
class NdxpService:
    code: str
    name_vi: str
    name_en: str
    kind: ServiceKind
    provider: str
    verification: bool  # the call checks submitted data against the record: ok or mismatch
    weight: float
    latency_ms_median: int
    bytes_median: int


@dataclass(frozen=True, slots=True)
class Procedure:
    code: str
    name_vi: str
    name_en: str
    field: str
    level: str  # "ministry" or "province": which level of agency handles it
    fee_vnd: int
    due_working_days: int
    weight: float


@dataclass(frozen=True, slots=True)
class IncidentCategoryInfo:
    code: str
    name_vi: str
    name_en: str
    weight: float


@cache
def ndxp_services() -> tuple[NdxpService, ...]:
    return read_rows(
        "ndxp_services.csv",
        lambda r: NdxpService(
            code=r["code"],
            name_vi=r["name_vi"],
            name_en=r["name_en"],
            kind=ServiceKind(r["kind"]),
            provider=r["provider"],
            verification=parse_bool(r["verification"]),
            weight=float(r["weight"]),
            latency_ms_median=int(r["latency_ms_median"]),
            bytes_median=int(r["bytes_median"]),
        ),
    )


@cache
def procedures() -> tuple[Procedure, ...]:
    return read_rows(
        "procedures.csv",
        lambda r: Procedure(
            code=r["code"],
            name_vi=r["name_vi"],
            name_en=r["name_en"],
            field=r["field"],
            level=r["level"],
            fee_vnd=int(r["fee_vnd"]),
            due_working_days=int(r["due_working_days"]),
            weight=float(r["weight"]),
        ),
    )


@cache
def incident_categories() -> tuple[IncidentCategoryInfo, ...]:
    return read_rows(
        "incident_categories.csv",
        lambda r: IncidentCategoryInfo(
            code=r["code"], name_vi=r["name_vi"], name_en=r["name_en"], weight=float(r["weight"])
        ),
    )
