from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from fieldguide.errors import InputError
from fieldguide.ingest import ingest_dwca
from fieldguide.store import Study
from fieldguide.store.sql import scalar


@pytest.fixture(scope="module")
def archive(shared_data: Path) -> Path:
    return shared_data / "observations" / "gbif_dwca_amblyomma_sample"


def test_real_gbif_archive_ingests_with_observers_dates_coordinates_photos(
    study: Study, archive: Path
) -> None:
    report = ingest_dwca(study, archive)
    assert report.rows_read == report.rows_kept == 1310
    assert report.counts["photos"] == 1362
    con = study.con
    assert scalar(con, "SELECT count(*) FROM observations WHERE observer IS NOT NULL") > 1000
    assert scalar(con, "SELECT count(*) FROM observations WHERE observed_on IS NOT NULL") > 1200
    assert scalar(con, "SELECT count(*) FROM observations WHERE latitude IS NOT NULL") > 1150
    stages = dict(
        con.execute(
            "SELECT life_stage, count(*) FROM observations WHERE life_stage IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    assert stages == {"adult": 80, "larva": 25, "juvenile": 9}
    # Photos join on the core id even where multimedia.txt pads it with a space.
    assert scalar(con, "SELECT count(*) FROM photos WHERE observation_id = '2803144270'") >= 1
    lineage = [
        r[0]
        for r in con.execute("""
        WITH RECURSIVE up(id, name, rank) AS (
            SELECT taxon_id, name, rank FROM taxa WHERE name = 'Amblyomma americanum'
            UNION ALL SELECT t.parent_id, p.name, p.rank FROM up
            JOIN taxa t ON t.taxon_id = up.id JOIN taxa p ON p.taxon_id = t.parent_id)
        SELECT rank FROM up""").fetchall()
    ]
    assert lineage == ["species", "genus", "family", "order", "class", "phylum", "kingdom"]


def test_gbif_synonym_is_kept(study: Study, archive: Path) -> None:
    ingest_dwca(study, archive)
    rows = study.con.execute("""SELECT s.name, t.name FROM synonyms s JOIN taxa t USING (taxon_id)
                                WHERE s.name = 'Acarus americanus'""").fetchall()
    assert rows == [("Acarus americanus", "Amblyomma americanum")]
    # The publisher's own spelling stays on the observation, as GBIF's verbatim name.
    assert (
        scalar(
            study.con,
            "SELECT count(*) FROM observations WHERE verbatim_name = 'Acercus americanus'",
        )
        == 11
    )


def test_zipped_archive_as_gbif_serves_it(study: Study, archive: Path, tmp_path: Path) -> None:
    zipped = tmp_path / "download.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        for name in ("meta.xml", "occurrence.txt", "multimedia.txt"):
            z.write(archive / name, name)
    assert ingest_dwca(study, zipped).rows_kept == 1310


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ("cut", "broken XML"),
        ("no-core", "invalid archive descriptor"),
        ("missing", "no meta.xml"),
    ],
)
def test_broken_meta_xml_is_refused_and_changes_nothing(
    study: Study, archive: Path, tmp_path: Path, meta: str, message: str
) -> None:
    ingest_dwca(study, archive)
    before = study.counts()
    copy = tmp_path / "broken"
    copy.mkdir()
    for name in ("occurrence.txt", "multimedia.txt"):
        shutil.copy(archive / name, copy / name)
    text = (archive / "meta.xml").read_text(encoding="utf-8")
    if meta == "cut":
        (copy / "meta.xml").write_text(text[: len(text) // 2], encoding="utf-8")
    elif meta == "no-core":
        (copy / "meta.xml").write_text(
            text.replace("<core ", "<corex ").replace("</core>", "</corex>"), encoding="utf-8"
        )
    with pytest.raises(InputError, match=message) as err:
        ingest_dwca(study, copy)
    if meta == "cut":
        assert err.value.path == str(copy / "meta.xml") and err.value.line is not None
    assert study.counts() == before


def test_reingesting_the_same_archive_is_skipped(study: Study, archive: Path) -> None:
    ingest_dwca(study, archive)
    before = study.counts()
    assert ingest_dwca(study, archive).skipped
    assert study.counts() == before
