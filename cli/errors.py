"""Turning the errors an operator can act on into one clear line instead of a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from govpulse.broker import BrokerError
from govpulse.db.connection import DatabaseUnavailable
from govpulse.db.migration_files import MigrationError
from govpulse.kafka_admin import BrokerUnavailable
from govpulse.recording import RecordingFormatError
from govpulse.reference.csvfile import ReferenceDataError
from govpulse.topics import UnknownFeedError

P = ParamSpec("P")
R = TypeVar("R")

stderr = Console(stderr=True, soft_wrap=True)

# Errors whose message already tells the operator what is wrong and what to do.
OPERATOR_ERRORS: tuple[type[BaseException], ...] = (
    BrokerError,
    BrokerUnavailable,
    DatabaseUnavailable,
    MigrationError,
    RecordingFormatError,
    ReferenceDataError,
    UnknownFeedError,
    FileNotFoundError,
    PermissionError,
)


def fail(message: str, code: int = 1) -> typer.Exit:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def friendly_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Print known errors as one line and exit non-zero; unknown ones keep their traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except OPERATOR_ERRORS as exc:
            raise fail(str(exc)) from None
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            location = ".".join(str(part) for part in first["loc"])
            raise fail(f"invalid setting {location}: {first['msg']}", code=2) from None
        except ValueError as exc:
            raise fail(str(exc), code=2) from None

    return wrapper
