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
