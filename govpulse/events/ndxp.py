"""`ndxp.transactions`: data-sharing calls through the National Data Sharing Platform (NDXP)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from govpulse.events.base import AgencyCode, Event, Identifier


class NdxpResult(StrEnum):
    OK = "ok"
    MISMATCH = "mismatch"  # a verification call whose submitted data differ from the record
    ERROR = "error"
    TIMEOUT = "timeout"


class NdxpTransaction(Event):
    """One call from a consumer system (`agency`) to a provider service."""

    schema_version: Literal[1] = 1
    service: Identifier
    provider: AgencyCode
    latency_ms: int = Field(ge=0, le=600_000)
    result: NdxpResult
    bytes: int = Field(ge=0, le=1_000_000_000)
