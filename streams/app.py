"""The module `faust -A streams.app worker` loads: the app built from the environment's settings."""

from __future__ import annotations

from govpulse.settings import load_settings
from streams.pipeline import build_app

pipeline = build_app(load_settings())
app = pipeline.app
