"""The dashboards, their generated files, and the comparison with what is committed.

`govpulse dashboards build | diff | push` and the tests call these. Guarantees: rendering is
deterministic (sorted keys, two-space indent, UTF-8, one trailing newline), so building twice
gives identical bytes and the committed JSON can be compared byte for byte.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dashboards import alerts, cyber, documents, ndxp, overview, pipeline, public_services
from dashboards.model import JSON

GENERATED_DIR = Path(__file__).resolve().parent / "generated"

# File stem → builder; the file names are what Grafana's file provider and the README show.
DASHBOARDS: dict[str, Callable[[], JSON]] = {
    "overview": overview.build,
    "public-services": public_services.build,
    "ndxp": ndxp.build,
    "documents": documents.build,
    "cyber": cyber.build,
    "pipeline": pipeline.build,
    "alerts": alerts.build,
}


def render(dashboard: JSON) -> str:
    """Stable JSON text of one dashboard."""
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build_all() -> dict[str, JSON]:
    """Every dashboard by file name (`overview.json`), built in memory."""
    return {f"{stem}.json": build() for stem, build in DASHBOARDS.items()}


def write_all(directory: Path = GENERATED_DIR) -> list[Path]:
    """Write every dashboard and remove stale `*.json` files there; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    built = build_all()
    for stale in directory.glob("*.json"):
        if stale.name not in built:
            stale.unlink()
    written = []
    for name, dashboard in built.items():
        path = directory / name
        path.write_text(render(dashboard), encoding="utf-8")
        written.append(path)
    return written


@dataclass(frozen=True, slots=True)
class Drift:
    """One generated file that differs from the committed one (`diff` is a unified diff)."""

    name: str
    reason: str  # "changed", "missing" (not committed) or "stale" (no longer generated)
    diff: str


def drift(directory: Path = GENERATED_DIR) -> list[Drift]:
    """Differences between freshly built dashboards and the files in `directory`, by name."""
    built = {name: render(dashboard) for name, dashboard in build_all().items()}
    found: list[Drift] = []
    for name in sorted(built):
        path = directory / name
        if not path.exists():
            found.append(Drift(name, "missing", ""))
            continue
        committed = path.read_text(encoding="utf-8")
        if committed != built[name]:
            lines = difflib.unified_diff(
                committed.splitlines(keepends=True),
                built[name].splitlines(keepends=True),
                fromfile=f"committed/{name}",
                tofile=f"generated/{name}",
            )
            found.append(Drift(name, "changed", "".join(lines)))
    for path in sorted(directory.glob("*.json")):
        if path.name not in built:
            found.append(Drift(path.name, "stale", ""))
    return found
