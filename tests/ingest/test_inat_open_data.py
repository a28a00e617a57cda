"""iNaturalist open-data tables: the real sample, and a gzipped synthetic set with a tree."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from fieldguide.errors import InputError
from fieldguide.ingest.inat_open_data import ingest_inat_open_data
from fieldguide.store import Study

SAMPLE = "inat_api/pyinaturalist_convert_sample_data/inaturalist-open-data"


def test_real_sample_refuses_its_two_malformed_rows_with_their_lines(
        study: Study, shared_data: Path) -> None:
    with pytest.raises(InputError, match="line 27"):
        ingest_inat_open_data(study, shared_data / SAMPLE)
    assert study.counts()["observations"] == 0
    report = ingest_inat_open_data(study, shared_data / SAMPLE, max_rejects=2)
    assert (report.rows_read, report.rows_kept) == (50, 48)
    assert report.counts["observations"] == 48 and report.counts["taxa created"] == 50
    url, licence, holder, attribution = study.con.execute(
        "SELECT url, license, rights_holder, attribution FROM photos "
        "WHERE photo_id = '35927'").fetchall()[0]
    assert url == "https://inaturalist-open-data.s3.amazonaws.com/photos/35927/medium.jpg"
    assert (licence, holder) == ("CC-BY", "Don Loarie")
    assert attribution == "(c) Don Loarie, some rights reserved (CC-BY)"
    assert ingest_inat_open_data(study, shared_data / SAMPLE, max_rejects=2).skipped


def _gz(path: Path, rows: list[list[str]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join("\t".join(r) for r in rows) + "\n")


def test_gzipped_tables_link_taxa_parents_and_a_configurable_bucket(
        study: Study, tmp_path: Path) -> None:
    folder = tmp_path / "od"
    folder.mkdir()
    _gz(folder / "taxa.csv.gz", [["taxon_id", "ancestry", "rank_level", "rank", "name", "active"],
                                 ["47126", "48460", "70", "kingdom", "Plantae", "true"],
                                 ["52821", "48460/47126", "20", "genus", "Bellis", "true"],
                                 ["53137", "48460/47126/52821", "10", "species",
                                  "Bellis perennis", "true"]])
    _gz(folder / "observations.csv.gz", [
        ["observation_uuid", "observer_id", "latitude", "longitude", "positional_accuracy",
         "taxon_id", "quality_grade", "observed_on"],
        ["u1", "7", "51.5", "-0.1", "", "53137", "research", "2024-05-01"],
        ["u2", "8", "", "", "", "", "casual", ""]])
    _gz(folder / "photos.csv.gz", [
        ["photo_uuid", "photo_id", "observation_uuid", "observer_id", "extension", "license",
         "width", "height", "position"],
        ["p1", "11", "u1", "7", "jpeg", "CC0", "10", "10", "0"],
        ["p2", "12", "u1", "7", "png", "CC-BY-NC", "10", "10", "1"],
        ["p3", "13", "nope", "7", "jpg", "CC0", "10", "10", "0"]])
    _gz(folder / "observers.csv.gz", [["observer_id", "login", "name"], ["7", "ann", "Ann"],
                                      ["8", "bob", "None"]])
    report = ingest_inat_open_data(study, folder, base_url="http://127.0.0.1:9/")
    assert report.counts == {"observations": 2, "photos": 2, "taxa created": 3}
    tree = dict(study.con.execute(
        "SELECT t.name, p.name FROM taxa t LEFT JOIN taxa p ON p.taxon_id = t.parent_id"
    ).fetchall())
    assert tree == {"Bellis perennis": "Bellis", "Bellis": "Plantae", "Plantae": None}
    obs = dict(study.con.execute("SELECT o.observation_id, t.name FROM observations o "
                                 "LEFT JOIN taxa t USING (taxon_id)").fetchall())
    assert obs == {"u1": "Bellis perennis", "u2": None}
    assert study.con.execute("SELECT observer FROM observations WHERE observation_id = 'u2'"
                             ).fetchall() == [("bob",)]
    photos = study.con.execute("SELECT url, position, attribution FROM photos ORDER BY 1"
                               ).fetchall()
    assert photos == [("http://127.0.0.1:9/photos/11/medium.jpeg", 1,
                       "(c) Ann, no rights reserved (CC0)"),
                      ("http://127.0.0.1:9/photos/12/medium.png", 2,
                       "(c) Ann, some rights reserved (CC-BY-NC)")]


def test_missing_table_or_column_is_refused(study: Study, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no observations table"):
        ingest_inat_open_data(study, tmp_path)
    (tmp_path / "observations.csv").write_text("observation_uuid\tfoo\nx\ty\n")
    (tmp_path / "photos.csv").write_text("photo_id\n1\n")
    with pytest.raises(InputError, match="missing column 'observer_id'"):
        ingest_inat_open_data(study, tmp_path)


def test_import_runs_under_a_memory_limit_and_restores_the_settings(
        study: Study, shared_data: Path) -> None:
    from fieldguide.ingest import inat_open_data

    def settings() -> tuple[str, ...]:
        return study.con.execute("SELECT current_setting('memory_limit'), "
                                 "current_setting('preserve_insertion_order'), "
                                 "current_setting('disabled_optimizers')").fetchone()

    before = settings()  # DuckDB's defaults
    seen = []
    original = inat_open_data._ingest

    def spy(*args: object, **kw: object) -> object:
        seen.append(settings())
        return original(*args, **kw)  # type: ignore[arg-type]

    inat_open_data._ingest = spy  # type: ignore[assignment]
    try:
        with pytest.raises(InputError):
            ingest_inat_open_data(study, shared_data / SAMPLE)  # refused: settings restored too
        assert settings() == before
        ingest_inat_open_data(study, shared_data / SAMPLE, max_rejects=2)
    finally:
        inat_open_data._ingest = original  # type: ignore[assignment]
    study.con.execute(f"SET memory_limit = '{inat_open_data.MEMORY_LIMIT}'")
    expected = settings()[0]  # the limit as DuckDB shows it (rounded, e.g. '953.6 MiB')
    study.con.execute("RESET memory_limit")
    assert seen[0][1] is False and seen[0][0] == expected
    assert seen[0][2] == inat_open_data.FIXED_JOIN_ORDER
    assert settings() == before


def test_many_chunks_give_the_same_study_as_one(
        study: Study, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fieldguide.ingest import inat_open_data

    def tables(s: Study) -> list[list[tuple[object, ...]]]:
        return [s.con.execute(f"SELECT * EXCLUDE (import_id) FROM {name} ORDER BY ALL"
                              ).fetchall() for name in ("observations", "photos", "taxa")]

    ingest_inat_open_data(study, shared_data / SAMPLE, max_rejects=2)
    assert inat_open_data._chunk_count(shared_data / SAMPLE / "observations.csv") == 1
    monkeypatch.setattr(inat_open_data, "OBSERVATIONS_PER_CHUNK", 1)  # a chunk per ~100 bytes
    assert inat_open_data._chunk_count(shared_data / SAMPLE / "observations.csv") > 20
    with Study(tmp_path / "chunked") as chunked:
        report = ingest_inat_open_data(chunked, shared_data / SAMPLE, max_rejects=2)
        assert report.counts["observations"] == 48 and report.counts["photos"] > 0
        assert tables(chunked) == tables(study)


def test_chunk_files_are_removed_and_those_a_killed_import_left_are_cleared(
        study: Study, shared_data: Path) -> None:
    scratch = study.root / ".tmp" / "inat-open-data"
    leftover = scratch / "observations" / "chunk=0"
    leftover.mkdir(parents=True)  # what an import killed half-way through the split leaves
    study.con.execute(f"COPY (SELECT 'ghost' AS observation_uuid) TO "
                      f"'{leftover / 'data_0.parquet'}' (FORMAT parquet)")
    with pytest.raises(InputError, match="line 27"):
        ingest_inat_open_data(study, shared_data / SAMPLE)
    assert not scratch.exists() and study.counts()["observations"] == 0
    leftover.mkdir(parents=True)
    study.con.execute(f"COPY (SELECT 'ghost' AS observation_uuid) TO "
                      f"'{leftover / 'data_0.parquet'}' (FORMAT parquet)")
    ingest_inat_open_data(study, shared_data / SAMPLE, max_rejects=2)
    assert not scratch.exists()
    assert study.con.execute("SELECT count(*) FROM observations WHERE observation_id = 'ghost'"
                             ).fetchone() == (0,)
    assert study.counts()["observations"] == 48
