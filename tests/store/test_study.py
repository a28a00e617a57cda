from __future__ import annotations

from pathlib import Path

import pytest

from fieldguide.errors import InputError
from fieldguide.store import SCHEMA_VERSION, TABLES, Study
from fieldguide.store.sql import scalar


def test_new_study_has_every_table_and_its_version(tmp_path: Path) -> None:
    with Study(tmp_path / "s") as study:
        assert set(study.counts()) == set(TABLES)
        assert scalar(study.con, "SELECT value FROM meta WHERE key = 'schema_version'") == str(
            SCHEMA_VERSION
        )
    # Reopening keeps it as it was.
    with Study(tmp_path / "s", create=False) as study:
        assert all(n == 0 for name, n in study.counts().items() if name != "meta")


def test_opening_a_missing_study_without_create_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no study here"):
        Study(tmp_path / "nothing", create=False)


def test_failed_transaction_leaves_the_store_unchanged(tmp_path: Path) -> None:
    with Study(tmp_path / "s") as study:
        study.con.execute("INSERT INTO observations (observation_id, source) VALUES ('a', 'x')")
        with pytest.raises(RuntimeError), study.transaction() as con:
            con.execute("INSERT INTO observations (observation_id, source) VALUES ('b', 'x')")
            raise RuntimeError("crash mid-import")
        ids = [
            r[0] for r in study.con.execute("SELECT observation_id FROM observations").fetchall()
        ]
        assert ids == ["a"]


def test_parquet_round_trip(tmp_path: Path) -> None:
    with Study(tmp_path / "a") as study:
        study.con.execute("""INSERT INTO observations (observation_id, source, latitude)
                             VALUES ('1', 'inaturalist', 51.5), ('2', 'gbif', NULL)""")
        path = study.export_parquet("observations", tmp_path / "obs.parquet")
    with Study(tmp_path / "b") as other:
        assert other.import_parquet("observations", path) == 2
        rows = other.con.execute(
            "SELECT observation_id, source, latitude FROM observations ORDER BY 1"
        ).fetchall()
    assert rows == [("1", "inaturalist", 51.5), ("2", "gbif", None)]


def test_parquet_import_with_missing_columns_names_them(tmp_path: Path) -> None:
    with Study(tmp_path / "a") as study:
        study.con.execute(
            "COPY (SELECT 1 AS x) TO '" + str(tmp_path / "x.parquet") + "' (FORMAT parquet)"
        )
        with pytest.raises(InputError, match="missing column"):
            study.import_parquet("observations", tmp_path / "x.parquet")
        assert study.counts()["observations"] == 0
