"""The pieces of Grafana's dashboard JSON model that govpulse dashboards are made of.

Called by the dashboard modules at build time only; nothing here talks to Grafana or a database.
Every builder returns plain dicts and lists, so `catalogue.render` can sort and serialise them
into stable JSON. Panels get their ids and grid positions from `Layout`, which places them left
to right in rows of Grafana's 24 columns, so positions never overlap by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

JSON = dict[str, Any]

GRID_COLUMNS = 24
SCHEMA_VERSION = 39  # Grafana 10.4+ model; newer Grafana migrates it on load
# The provisioned datasource (dashboards/provisioning/datasources/govpulse.yaml) has this uid;
# a Grafana set up by hand needs a PostgreSQL datasource with the same uid.
DATASOURCE: JSON = {"type": "grafana-postgresql-datasource", "uid": "govpulse-timescaledb"}
TAGS = ("govpulse",)

Format = Literal["time_series", "table"]


@dataclass(frozen=True, slots=True)
class Query:
    """One SQL query of a panel; `time_series` queries must return a `time` column first."""

    sql: str
    format: Format = "time_series"


def _targets(queries: tuple[Query, ...]) -> list[JSON]:
    return [
        {
            "datasource": DATASOURCE,
            "editorMode": "code",
            "format": query.format,
            "rawQuery": True,
            "rawSql": query.sql,
            "refId": chr(ord("A") + index),
        }
        for index, query in enumerate(queries)
    ]


def _thresholds(steps: tuple[tuple[float | None, str], ...]) -> JSON:
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for value, color in steps],
    }


GREEN_ONLY: tuple[tuple[float | None, str], ...] = ((None, "green"),)


def panel(
    kind: str,
    title: str,
    description: str,
    queries: tuple[Query, ...],
    *,
    unit: str = "short",
    options: JSON | None = None,
    custom: JSON | None = None,
    thresholds: tuple[tuple[float | None, str], ...] = GREEN_ONLY,
    links: list[JSON] | None = None,
    overrides: list[JSON] | None = None,
    decimals: int | None = None,
    extra: JSON | None = None,
) -> JSON:
    """A panel without id or position (Layout adds them)."""
    defaults: JSON = {
        "color": {"mode": "palette-classic" if kind == "timeseries" else "thresholds"},
        "custom": custom or {},
        "links": links or [],
        "thresholds": _thresholds(thresholds),
        "unit": unit,
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    result: JSON = {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        # Data are 1-minute buckets: a finer $__interval would only split them.
        "interval": "1m",
        "options": options or {},
        "targets": _targets(queries),
        "title": title,
        "type": kind,
    }
    return result | (extra or {})


def timeseries(
    title: str, description: str, *queries: Query, unit: str = "short", stacked: bool = False
) -> JSON:
    custom: JSON = {
        "drawStyle": "line",
        "fillOpacity": 20 if stacked else 5,
        "lineWidth": 1,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": "normal" if stacked else "none"},
    }
    options: JSON = {
        "legend": {"calcs": ["mean", "max"], "displayMode": "table", "placement": "right"},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel(
        "timeseries", title, description, queries, unit=unit, custom=custom, options=options
    )


def stat(
    title: str,
    description: str,
    query: Query,
    *,
    unit: str = "short",
    thresholds: tuple[tuple[float | None, str], ...] = GREEN_ONLY,
    decimals: int | None = None,
) -> JSON:
    options: JSON = {
        "colorMode": "value",
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "textMode": "auto",
    }
    return panel(
        "stat",
        title,
        description,
        (query,),
        unit=unit,
        options=options,
        thresholds=thresholds,
        decimals=decimals,
    )


def bargauge(
    title: str,
    description: str,
    query: Query,
    *,
    unit: str = "short",
    thresholds: tuple[tuple[float | None, str], ...] = GREEN_ONLY,
) -> JSON:
    options: JSON = {
        "displayMode": "gradient",
        "orientation": "horizontal",
        # Every row of the table result is one bar.
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": True},
        "showUnfilled": True,
    }
    return panel(
        "bargauge", title, description, (query,), unit=unit, options=options, thresholds=thresholds
    )


def table(
    title: str,
    description: str,
    query: Query,
    *,
    overrides: list[JSON] | None = None,
    sort_by: str | None = None,
) -> JSON:
    options: JSON = {"cellHeight": "sm", "footer": {"show": False}, "showHeader": True}
    if sort_by:
        options["sortBy"] = [{"desc": True, "displayName": sort_by}]
    return panel("table", title, description, (query,), options=options, overrides=overrides)


def column_unit(name: str, unit: str, decimals: int | None = None) -> JSON:
    """A table override giving one column its unit."""
    properties: list[JSON] = [{"id": "unit", "value": unit}]
    if decimals is not None:
        properties.append({"id": "decimals", "value": decimals})
    return {"matcher": {"id": "byName", "options": name}, "properties": properties}


def column_link(name: str, title: str, url: str) -> JSON:
    """A table override making one column's cells links (Grafana data links)."""
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": "links", "value": [{"title": title, "url": url}]}],
    }


def geomap(
    title: str,
    description: str,
    query: Query,
    *,
    colour_by: str,
    size_by: str,
    unit: str,
    thresholds: tuple[tuple[float | None, str], ...],
) -> JSON:
    """A map of Vietnam with one marker per row (columns `lat`, `lon`), coloured by a column."""
    marker_layer: JSON = {
        "config": {
            "showLegend": True,
            "style": {
                "color": {"field": colour_by, "fixed": "dark-green"},
                "opacity": 0.7,
                "size": {"field": size_by, "fixed": 5, "max": 18, "min": 4},
                "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
                "text": {"field": "name", "mode": "field"},
                "textConfig": {"fontSize": 9, "offsetY": -12, "textAlign": "center"},
            },
        },
        "location": {"latitude": "lat", "longitude": "lon", "mode": "coords"},
        "name": "agencies",
        "tooltip": True,
        "type": "markers",
    }
    options: JSON = {
        "basemap": {"config": {}, "name": "basemap", "type": "default"},
        "controls": {"mouseWheelZoom": False, "showZoom": True, "showAttribution": True},
        "layers": [marker_layer],
        "tooltip": {"mode": "details"},
        # Centred on Vietnam, zoomed to show it whole.
        "view": {"id": "coords", "lat": 16.0, "lon": 106.0, "zoom": 5},
    }
    return panel(
        "geomap", title, description, (query,), unit=unit, options=options, thresholds=thresholds
    )


@dataclass(slots=True)
class Layout:
    """Places panels in reading order on the 24-column grid and numbers them from 1.

    `add` puts a panel to the right of the previous one, or starts a new line when it would not
    fit; `row` starts a titled row. Widths must be 1..24.
    """

    panels: list[JSON] = field(default_factory=list)
    _x: int = 0
    _y: int = 0
    _line_height: int = 0

    def add(self, built: JSON, w: int, h: int) -> Layout:
        if not 0 < w <= GRID_COLUMNS or h <= 0:
            raise ValueError(f"panel {built.get('title')!r}: width {w} / height {h} out of range")
        if self._x + w > GRID_COLUMNS:
            self._newline()
        placed = built | {"gridPos": {"h": h, "w": w, "x": self._x, "y": self._y}}
        placed["id"] = len(self.panels) + 1
        self.panels.append(placed)
        self._x += w
        self._line_height = max(self._line_height, h)
        return self

    def row(self, title: str) -> Layout:
        self._newline()
        self.panels.append(
            {
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_COLUMNS, "x": 0, "y": self._y},
                "id": len(self.panels) + 1,
                "panels": [],
                "title": title,
                "type": "row",
            }
        )
        self._y += 1
        return self

    def _newline(self) -> None:
        self._y += self._line_height
        self._x = 0
        self._line_height = 0
