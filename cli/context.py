"""Settings and logging for CLI commands: the one place a command's options meet the settings."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

from govpulse.settings import Settings


def settings_for(namespace: str | None = None) -> Settings:
    """The environment's settings, with the command line's namespace if one was given."""
    if namespace is None:
        return Settings()
    return Settings(namespace=namespace)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="%H:%M:%S",
        # stderr: stdout carries the commands' own output (tables, --json).
        handlers=[
            RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False)
        ],
        force=True,
    )
    # The Kafka clients log every reconnect at INFO; operators need their warnings only.
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
