"""Silences: bounded in time, matched by labels. A silenced alert is still evaluated and recorded,
but no notification is sent for it; when the silence ends while the alert fires, it is notified.

Pure matching here; `govpulse.alerts.store` reads and writes the `silences` table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

_MATCHER = re.compile(r"^(?P<key>[a-z_][a-z0-9_]{0,62})=(?P<value>.*)$")


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    matchers: dict[str, str]  # every label must be equal
    starts_at: datetime
    ends_at: datetime
    comment: str = ""
    created_by: str = ""

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(key) == value for key, value in self.matchers.items())


def parse_matchers(texts: Iterable[str]) -> dict[str, str]:
    """`key=value` pairs from the command line; at least one, each label once."""
    matchers: dict[str, str] = {}
    for text in texts:
        match = _MATCHER.match(text.strip())
        if match is None:
            raise ValueError(f"matcher {text!r} is not key=value (key: lowercase letters, '_')")
        if match["key"] in matchers:
            raise ValueError(f"label {match['key']!r} is matched twice")
        matchers[match["key"]] = match["value"]
    if not matchers:
        raise ValueError("a silence needs at least one --match key=value")
    return matchers


def silenced(silences: Iterable[Silence], labels: Mapping[str, str], now: datetime) -> bool:
    return any(s.active(now) and s.matches(labels) for s in silences)
