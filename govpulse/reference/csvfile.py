"""Reading the packaged reference CSV files, with errors that name the file and row."""

from __future__ import annotations

import csv
from collections.abc import Callable
from importlib import resources
from typing import TypeVar

T = TypeVar("T")


class ReferenceDataError(ValueError):
    """A reference file that is missing, malformed or inconsistent."""


def read_rows(filename: str, build: Callable[[dict[str, str]], T]) -> tuple[T, ...]:
    """Every row of `data/<filename>` turned into a `T`; the first bad row raises."""
    text = resources.files(__package__).joinpath("data", filename).read_text(encoding="utf-8")
    reader = csv.DictReader(text.splitlines())
    rows: list[T] = []
    for number, row in enumerate(reader, start=2):
        try:
            rows.append(build({key.strip(): (value or "").strip() for key, value in row.items()}))
        except (KeyError, ValueError) as exc:
            raise ReferenceDataError(f"{filename}:{number}: {exc!r}") from exc
    codes = [getattr(row, "code", None) for row in rows]
    if None not in codes and len(set(codes)) != len(codes):
        raise ReferenceDataError(f"{filename}: duplicate codes")
    return tuple(rows)


def parse_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")
