"""The packaged SQL migration files: finding them and choosing the ones a database needs.

Files live in `govpulse/db/migrations/` and are named `NNNN_name.sql` (always applied),
`NNNN_name.timescale.sql` (only where the timescaledb extension is installed) or
`NNNN_name.plain.sql` (only where it is not). `NNNN_name` is the version recorded in
`<namespace>.schema_migrations`; a version has either one plain file or a timescale/plain pair.

Files use unqualified names for the namespace's objects: the runner sets `search_path` to the
namespace schema, then `reference`, then `public`. Objects in the shared `reference` schema are
schema-qualified and must be idempotent (`CREATE OR REPLACE`, `IF NOT EXISTS`) because every
namespace applies the file again.

Pure: reading files only, no database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from importlib.resources.abc import Traversable


class MigrationError(RuntimeError):
    """A migration file that is misnamed or failed to apply; the message names it."""


class Variant(StrEnum):
    ALL = "all"
    TIMESCALE = "timescale"
    PLAIN = "plain"


_FILE_NAME = re.compile(r"^(?P<version>\d{4}_[a-z0-9_]+?)(?:\.(?P<variant>timescale|plain))?\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: str  # "0003_minute_tables": the order and the identity in schema_migrations
    variant: Variant
    file: Traversable

    @property
    def file_name(self) -> str:
        return self.file.name

    def read_sql(self) -> str:
        return self.file.read_text(encoding="utf-8")


def packaged_directory() -> Traversable:
    return resources.files("govpulse.db").joinpath("migrations")


def discover(directory: Traversable | None = None) -> tuple[Migration, ...]:
    """Every migration file, ordered by version; a misnamed or conflicting file raises."""
    folder = directory if directory is not None else packaged_directory()
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationError(
                f"migration file {entry.name!r} is not named NNNN_name[.timescale|.plain].sql"
            )
        found.append(Migration(match["version"], Variant(match["variant"] or "all"), entry))
    found.sort(key=lambda m: (m.version, m.variant))
    _check_consistent(found)
    return tuple(found)


def _check_consistent(migrations: Iterable[Migration]) -> None:
    variants: dict[str, set[Variant]] = {}
    versions_by_number: dict[str, set[str]] = {}
    for migration in migrations:
        variants.setdefault(migration.version, set()).add(migration.variant)
        versions_by_number.setdefault(migration.version[:4], set()).add(migration.version)
    for number, versions in versions_by_number.items():
        if len(versions) > 1:
            raise MigrationError(f"migration number {number} is used by {sorted(versions)}")
    for version, kinds in variants.items():
        if Variant.ALL in kinds and len(kinds) > 1:
            raise MigrationError(
                f"migration {version} has a plain .sql file and a .timescale/.plain variant"
            )


def applicable(migrations: Iterable[Migration], timescaledb: bool) -> list[Migration]:
    """The files a database runs, in order: the common ones and its variant's."""
    wanted = Variant.TIMESCALE if timescaledb else Variant.PLAIN
    return [m for m in migrations if m.variant in (Variant.ALL, wanted)]
