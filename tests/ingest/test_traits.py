from __future__ import annotations

from pathlib import Path

import pytest

from fieldguide.errors import InputError
from fieldguide.ingest import ingest_inat_csv
from fieldguide.ingest.traits import IMAGEANT_PHENOLOGY, ingest_traits
from fieldguide.store import Study
from tests.ingest.conftest import snapshot

TAYLOR = "observations/inat_flowering_taylor2019"


def test_imageant_phenology_labels_load(study: Study, shared_data: Path) -> None:
    ingest_inat_csv(study, shared_data / TAYLOR / "inat_rudbeckia_hirta.csv")
    path = shared_data / TAYLOR / "labels_imageant_rudbeckia.csv"
    report = ingest_traits(study, path, columns=IMAGEANT_PHENOLOGY, annotator="taylor2019")
    assert report.rows_read == report.rows_kept == 5408
    counts = dict(study.con.execute(
        "SELECT trait || '=' || value, count(*) FROM traits GROUP BY 1").fetchall())
    # README: open_flowers 1=5,085 / 0=317 / U=6.
    assert counts["open_flowers=1"] == 5085
    assert counts["open_flowers=0"] == 317
    assert counts["open_flowers=U"] == 6
    assert counts["flower_buds=1"] == 5085 + 135
    assert ingest_traits(study, path, columns=IMAGEANT_PHENOLOGY).skipped


def test_bad_trait_rows_name_file_line_and_field(study: Study, tmp_path: Path) -> None:
    study.con.execute("INSERT INTO observations (observation_id, source) VALUES ('10', 't'), "
                      "('11', 't')")
    study.con.execute("INSERT INTO photos (photo_id, observation_id) VALUES ('p7', '11')")
    bad = tmp_path / "labels.csv"
    bad.write_text("file,open_flowers,flowers,time\n10.jpg,1,1,2.0\n11.jpg,yes,1,2.0\n",
                   encoding="utf-8")
    before = snapshot(study)
    with pytest.raises(InputError) as err:
        ingest_traits(study, bad, columns=IMAGEANT_PHENOLOGY)
    assert err.value.line == 3 and err.value.field == "open_flowers"
    assert "not one of 1, 0, U: yes" in str(err.value) and str(bad) in str(err.value)
    assert snapshot(study) == before
    bad.write_text("file,open_flowers\n99.jpg,1\n", encoding="utf-8")
    with pytest.raises(InputError, match="no observation or photo 99"):
        ingest_traits(study, bad)
    good = tmp_path / "photo_labels.csv"
    good.write_text("file,fruits\np7.jpg,1\n10.jpg,\n", encoding="utf-8")
    assert ingest_traits(study, good).counts == {"traits": 1}
    assert study.con.execute("SELECT observation_id, photo_id, trait, value FROM traits"
                             ).fetchall() == [("11", "p7", "fruits", "1")]


def _two_observations(study: Study) -> None:
    study.con.execute("INSERT INTO observations (observation_id, source) VALUES ('10', 't'), "
                      "('11', 't'), ('12', 't')")


def test_trait_from_a_column_with_a_value_map_refuses_unmapped_values(
    study: Study, tmp_path: Path
) -> None:
    _two_observations(study)
    path = tmp_path / "export.csv"
    path.write_text("id,open_flowers,notes\n10,1,a\n11,0,b\n12,U,c\n", encoding="utf-8")
    maps = {"open_flowers": {"1": "flowering", "0": "not_flowering"}}
    before = snapshot(study)
    with pytest.raises(InputError, match="no mapping for value U") as err:
        ingest_traits(study, path, key="id", columns={"open_flowers": "flowering"},
                      values=None, value_maps=maps)
    assert (err.value.line, err.value.field) == (4, "open_flowers")
    assert snapshot(study) == before
    report = ingest_traits(study, path, key="id", columns={"open_flowers": "flowering"},
                           values=None, value_maps=maps, max_rejects=1)
    assert report.rows_kept == 2
    assert study.con.execute("SELECT observation_id, trait, value FROM traits ORDER BY 1"
                             ).fetchall() == [("10", "flowering", "flowering"),
                                              ("11", "flowering", "not_flowering")]


def test_any_header_is_safe_in_sql(study: Study, tmp_path: Path) -> None:
    """Column names with quotes, semicolons and SQL in them are only ever identifiers."""
    _two_observations(study)
    path = tmp_path / "odd.csv"
    path.write_text('"my ""id""","flow\'s"") ; DROP TABLE traits; --"\n10.jpg,yes\n11.jpg,\n',
                    encoding="utf-8")
    column = 'flow\'s") ; DROP TABLE traits; --'
    report = ingest_traits(study, path, key='my "id"', columns={column: "flowering"},
                           values=None)
    assert report.counts == {"traits": 1}
    assert study.con.execute("SELECT observation_id, trait, value FROM traits").fetchall() == [
        ("10", "flowering", "yes")]
    bad = tmp_path / "odd2.csv"
    bad.write_text('"my ""id""","flow\'s"") ; DROP TABLE traits; --"\n12.jpg,maybe\n',
                   encoding="utf-8")
    with pytest.raises(InputError, match="not one of 1, 0, U: maybe") as err:
        ingest_traits(study, bad, key='my "id"', columns={column: "flowering"})
    assert err.value.field == column


def test_inat_export_annotation_columns_become_traits(study: Study, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "id,observed_on,user_id,scientific_name,Plant Phenology,field:Flowering,description\n"
        "1,2020-05-01,7,Rudbeckia hirta,Flowering,yes,x\n"
        "2,2020-05-02,7,Rudbeckia hirta,,,y\n"
        "3,2020-05-03,8,Rudbeckia hirta,No Evidence of Flowering,no,z\n", encoding="utf-8")
    report = ingest_inat_csv(study, path)
    assert report.counts["traits"] == 4
    assert study.con.execute("SELECT observation_id, trait, value FROM traits ORDER BY 1, 2"
                             ).fetchall() == [
        ("1", "flowering", "yes"), ("1", "plant_phenology", "Flowering"),
        ("3", "flowering", "no"), ("3", "plant_phenology", "No Evidence of Flowering")]


def test_cli_trait_and_map_options(study: Study, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fieldguide.cli.ingest import ingest_app

    _two_observations(study)
    study.close()
    path = tmp_path / "labels.csv"
    path.write_text("file,open_flowers,flowers,time\n10.jpg,1,1,2.0\n11.jpg,0,1,3.0\n"
                    "12.jpg,2,0,1.0\n", encoding="utf-8")
    args = ["traits", str(path), "-s", str(study.root), "--trait", "flowering=open_flowers",
            "--map", "open_flowers:1=flowering", "--map", "flowering:0=not_flowering"]
    refused = CliRunner().invoke(ingest_app, args)
    assert refused.exit_code == 2
    assert "line 4" in refused.output and "open_flowers" in refused.output
    assert "no mapping for value 2" in refused.output
    result = CliRunner().invoke(ingest_app, [*args, "--map", "open_flowers:2=U"])
    assert result.exit_code == 0, result.output
    with Study(study.root) as again:
        assert again.con.execute("SELECT value, count(*) FROM traits GROUP BY 1 ORDER BY 1"
                                 ).fetchall() == [("U", 1), ("flowering", 1),
                                                  ("not_flowering", 1)]
    bad = CliRunner().invoke(ingest_app, ["traits", str(path), "-s", str(study.root),
                                          "--trait", "flowering=open_flowers", "--map", "x=1"])
    assert bad.exit_code == 2 and "COLUMN:VALUE=CODE" in bad.output
