"""The generated dashboards checked against Grafana 11.5's own schema: grafana-foundation-sdk's
models are generated from it (the `!11.5.0` build). Decoding a dashboard with them and encoding it
again keeps every field the schema knows and drops the others, so a field it drops or changes is
one Grafana 11.5 does not define that way (a typo, a wrong nesting, a wrong type); fields it adds
are the schema's defaults. Each panel type must be one of its panel plugins."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from grafana_foundation_sdk.cog import runtime
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.catalogue import build_all

register_default_plugins()
DASHBOARDS = build_all()


def differences(ours: Any, schema: Any, path: str = "") -> list[str]:
    """What the round trip lost or changed; additions (schema defaults) are not differences."""
    if isinstance(ours, dict) and isinstance(schema, dict):
        found = []
        for key, value in ours.items():
            if key not in schema:
                # `"id": null` is encoded as an absent id: the same dashboard to Grafana.
                # An annotation's `target` is its datasource's query (rawSql for PostgreSQL):
                # the schema leaves it to the datasource plugin and models only its own fields.
                annotation_query = re.fullmatch(r"/annotations/list\[\d+\]/target", path)
                if not (path == "" and key == "id" and value is None) and not annotation_query:
                    found.append(f"{path}/{key}: not in the schema")
            else:
                found += differences(value, schema[key], f"{path}/{key}")
        return found
    if isinstance(ours, list) and isinstance(schema, list):
        if len(ours) != len(schema):
            return [f"{path}: {len(ours)} items, {len(schema)} after the schema"]
        return [d for i, pair in enumerate(zip(ours, schema, strict=True))
                for d in differences(*pair, f"{path}[{i}]")]  # fmt: skip
    return [] if ours == schema else [f"{path}: {ours!r} became {schema!r}"]


def through_schema(dashboard: dict[str, Any]) -> Any:
    return json.loads(json.dumps(Dashboard.from_json(dashboard), cls=JSONEncoder))


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_survives_grafana_11_5_models(name: str) -> None:
    dashboard = DASHBOARDS[name]
    assert differences(dashboard, through_schema(dashboard)) == []
    assert dashboard["schemaVersion"] == Dashboard().schema_version


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_type_is_a_grafana_panel_plugin(name: str) -> None:
    types = {panel["type"] for panel in DASHBOARDS[name]["panels"]} - {"row"}
    assert types and all(runtime.panelcfg_config(t) is not None for t in types), types


def test_the_check_catches_what_grafana_does_not_define() -> None:
    dashboard = json.loads(json.dumps(DASHBOARDS["ndxp.json"]))
    panel = next(p for p in dashboard["panels"] if p["type"] == "timeseries")
    panel["fieldConfig"]["defaults"]["unitt"] = "reqps"  # a typo
    dashboard["templating"]["list"][0]["refreshOnLoad"] = True  # no such field
    found = differences(dashboard, through_schema(dashboard))
    assert any(re.search(r"/fieldConfig/defaults/unitt: not in the schema", d) for d in found)
    assert any("/templating/list[0]/refreshOnLoad: not in the schema" in d for d in found)
