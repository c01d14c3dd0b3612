"""Grafana dashboards as code.

Each dashboard is a module with a `build() -> dict` returning Grafana's dashboard JSON model;
`dashboards.catalogue` lists them, renders them as sorted, stable JSON (the files committed under
`dashboards/generated/`) and compares them with what is committed. `dashboards.publisher` pushes
them to a running Grafana. This package imports `govpulse` only, never `connectors` or `streams`.
"""
