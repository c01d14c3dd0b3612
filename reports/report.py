"""Producing a month's report from a namespace: the one call `govpulse report` makes."""

from __future__ import annotations

from datetime import datetime

from connectors.calibration import month_window
from reports.monthly import MonthlyReport, build
from reports.published import references
from reports.rollups import Connection, read_month


def parse_month(text: str) -> tuple[datetime, datetime]:
    """[start, end) of a month given as YYYY-MM, in Vietnam time; ValueError otherwise."""
    try:
        year_text, month_text = text.split("-")
        year, month = int(year_text), int(month_text)
        if len(year_text) != 4 or not 1 <= month <= 12:
            raise ValueError
    except ValueError:
        raise ValueError(f"month {text!r} is not YYYY-MM, e.g. 2024-10") from None
    return month_window(year, month)


def produce(conn: Connection, namespace: str, month: str, scale: float = 1.0) -> MonthlyReport:
    """The report of `month` from `namespace`'s rollups, against the published figures × `scale`
    (the scale of the simulation the namespace holds; 1.0 for the whole country)."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    start, end = parse_month(month)
    data = read_month(conn, namespace, start, end)
    return build(data, references(start, end, scale), namespace=namespace, month=month, scale=scale)
