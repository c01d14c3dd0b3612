"""The packaged migration files: names, order and variant choice (no database)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboards.variables import NARROW_ROLLUPS
from govpulse.db.migration_files import MigrationError, Variant, applicable, discover
from govpulse.db.tables import AGGREGATE_TABLES


def test_packaged_files_are_ordered_and_each_database_gets_one_rollup_variant() -> None:
    found = discover()
    assert [m.version for m in found] == sorted(m.version for m in found)
    plain = [m.file_name for m in applicable(found, timescaledb=False)]
    timescale = [m.file_name for m in applicable(found, timescaledb=True)]
    assert "0004_rollups.plain.sql" in plain and "0004_rollups.timescale.sql" not in plain
    assert "0004_rollups.timescale.sql" in timescale and "0004_rollups.plain.sql" not in timescale
    assert len(plain) == len(timescale)


def test_every_aggregate_table_has_both_rollups_in_both_variants() -> None:
    files = {
        m.file_name: m.read_sql()
        for m in discover()
        if m.variant is not Variant.ALL and m.version == "0004_rollups"
    }
    assert len(files) == 2
    for table in AGGREGATE_TABLES.values():
        for text in files.values():
            assert f"VIEW {table.name}_hourly" in text and f"VIEW {table.name}_daily" in text


def test_the_narrower_rollups_the_dashboards_read_exist_in_both_variants() -> None:
    for name, (_, dropped) in NARROW_ROLLUPS.items():
        files = [m.read_sql() for m in discover() if f"VIEW {name}_hourly" in m.read_sql()]
        assert len(files) == 2, name  # one migration, both variants
        for text in files:
            assert f"VIEW {name}_daily" in text
            definitions = re.findall(rf"VIEW {name}_\w+ .*?;", text, re.S)
            # No select list or GROUP BY names a dropped column (one per line in these files).
            assert not any(
                re.search(rf"^\s*{c},?$|, {c}\b", d, re.M) for d in definitions for c in dropped
            ), name


def test_every_rollup_has_a_rows_view_in_both_variants() -> None:
    # The dashboards read every hourly and daily rollup through its `_rows` view (0032).
    families = [t.name for t in AGGREGATE_TABLES.values()] + list(NARROW_ROLLUPS)
    files = [m.read_sql() for m in discover() if m.version == "0032_panel_rollups"]
    assert len(files) == 2
    plain = next(text for text in files if "'_rows'" in text and "cagg_watermark" not in text)
    timescale = next(text for text in files if "cagg_watermark" in text)
    for family in families:
        assert f"'{family}_hourly'" in plain and f"'{family}_daily'" in plain, family
        assert f"('{family}', " in timescale, family


def test_misnamed_or_conflicting_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_a.plain.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="0001_a"):
        discover(tmp_path)
    (tmp_path / "0001_a.plain.sql").unlink()
    (tmp_path / "2_bad.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"2_bad\.sql"):
        discover(tmp_path)
