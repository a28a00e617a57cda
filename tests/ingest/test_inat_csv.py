from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from fieldguide.errors import InputError
from fieldguide.ingest import ingest_inat_csv
from fieldguide.store import Study
from fieldguide.store.sql import scalar


@pytest.fixture(scope="module")
def rudbeckia(shared_data: Path) -> Path:
    return shared_data / "observations" / "inat_flowering_taylor2019" / "inat_rudbeckia_hirta.csv"


@pytest.mark.parametrize(
    ("file", "observations", "observers"),
    [("inat_rudbeckia_hirta.csv", 5408, 3247), ("inat_maianthemum_canadense.csv", 5461, 2637)],
)
def test_real_exports_ingest_with_observers_dates_coordinates_photos(
    study: Study, shared_data: Path, file: str, observations: int, observers: int
) -> None:
    path = shared_data / "observations" / "inat_flowering_taylor2019" / file
    report = ingest_inat_csv(study, path)
    assert report.rows_read == report.rows_kept == observations
    con = study.con
    assert scalar(con, "SELECT count(DISTINCT observer) FROM observations") == observers
    assert scalar(con, "SELECT count(*) FROM observations WHERE observed_on IS NULL") == 0
    assert scalar(con, "SELECT count(*) FROM photos") == observations
    assert scalar(con, "SELECT count(*) FROM observations WHERE latitude IS NULL") < 50
    # Every observation's taxon is the export's species (or one of its subspecies).
    species = file.removeprefix("inat_").removesuffix(".csv").replace("_", " ").capitalize()
    assert (
        scalar(
            con,
            """SELECT count(*) FROM observations o JOIN taxa t USING (taxon_id)
                          WHERE t.name LIKE ? || '%'""",
            [species],
        )
        == observations
    )


def test_first_row_of_the_rudbeckia_export(study: Study, rudbeckia: Path) -> None:
    ingest_inat_csv(study, rudbeckia)
    row = study.con.execute("""
        SELECT o.observer, o.observed_on, o.latitude, o.longitude, o.quality_grade, o.license,
               p.photo_id, p.url, t.name, t.rank, parent.name
        FROM observations o JOIN photos p USING (observation_id)
        JOIN taxa t USING (taxon_id) JOIN taxa parent ON parent.taxon_id = t.parent_id
        WHERE observation_id = '2613806'""").fetchall()[0]
    assert row == (
        "2179",
        dt.date(2016, 1, 24),
        44.2674330203,
        -72.5065250137,
        "research",
        "CC0",
        "2923252",
        "https://static.inaturalist.org/photos/2923252/medium.jpg?1453675122",
        "Rudbeckia hirta",
        "species",
        "Rudbeckia",
    )


def _head(source: Path, target: Path, records: int) -> Path:
    """The header and first records of a real export, written as a well-formed CSV."""
    with (
        source.open(newline="", encoding="utf-8") as f,
        target.open("w", newline="", encoding="utf-8") as out,
    ):
        reader, writer = csv.reader(f), csv.writer(out, lineterminator="\n")
        for i, row in enumerate(reader):
            if i > records:
                break
            writer.writerow(row)
    return target


def test_truncated_export_is_refused_at_its_last_line(
    study: Study, rudbeckia: Path, tmp_path: Path
) -> None:
    head = _head(rudbeckia, tmp_path / "head.csv", 30)
    text = head.read_text(encoding="utf-8")
    cut = tmp_path / "cut.csv"
    cut.write_text(text[: len(text) - 200], encoding="utf-8")  # a download cut mid-row
    lines = cut.read_text(encoding="utf-8").count("\n") + 1
    with pytest.raises(InputError) as err:
        ingest_inat_csv(study, cut)
    assert err.value.path == str(cut)
    assert err.value.line == lines
    assert study.counts()["observations"] == 0


def test_missing_required_column(study: Study, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("id,user_id,scientific_name\n1,2,Rudbeckia hirta\n")
    with pytest.raises(InputError, match="missing required column 'observed_on'") as err:
        ingest_inat_csv(study, path)
    assert (err.value.line, err.value.field) == (1, "observed_on")


def test_non_utf8_file(study: Study, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        "id,observed_on,user_id,scientific_name\n1,2020-01-01,2,Hieracium pilosella\n"
        "2,2020-01-02,3,Crépis\n".encode("latin-1")
    )
    with pytest.raises(InputError, match="UTF-8") as err:
        ingest_inat_csv(study, path)
    assert err.value.line == 3


def test_empty_file(study: Study, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        ingest_inat_csv(study, path)


def test_duplicate_ids_are_refused_naming_the_repeated_line(
    study: Study, rudbeckia: Path, tmp_path: Path
) -> None:
    ingest_inat_csv(study, _head(rudbeckia, tmp_path / "first.csv", 5))
    before = study.counts()
    path = tmp_path / "dup.csv"
    path.write_text(
        "id,observed_on,user_id,scientific_name,latitude,longitude\n"
        "900,2020-05-01,7,Rudbeckia hirta,40.1,-75.2\n"
        "901,2020-05-02,8,Rudbeckia hirta,40.2,-75.3\n"
        "900,2020-05-03,9,Rudbeckia hirta,40.3,-75.4\n"
    )
    with pytest.raises(InputError, match="duplicate observation id 900") as err:
        ingest_inat_csv(study, path)
    assert (err.value.line, err.value.field) == (4, "id")
    assert study.counts() == before
    # An id already in the study is refused too.
    again = tmp_path / "again.csv"
    again.write_text(
        "id,observed_on,user_id,scientific_name\n2613806,2020-05-01,7,Rudbeckia hirta\n"
    )
    with pytest.raises(InputError, match="already in the study"):
        ingest_inat_csv(study, again)
    assert study.counts() == before


def test_unknown_taxon_name_in_strict_mode(study: Study, rudbeckia: Path, tmp_path: Path) -> None:
    ingest_inat_csv(study, _head(rudbeckia, tmp_path / "first.csv", 5))
    before = study.counts()
    path = tmp_path / "typo.csv"
    path.write_text(
        "id,observed_on,user_id,scientific_name\n"
        "1,2020-05-01,7,Rudbeckia hirta\n2,2020-05-01,7,Rudbekia hirta\n"
    )
    with pytest.raises(
        InputError, match=r"unknown taxon name 'Rudbekia hirta'.*Rudbeckia hirta"
    ) as err:
        ingest_inat_csv(study, path, taxa="strict")
    assert (err.value.line, err.value.field) == (3, "scientific_name")
    assert study.counts() == before


def test_bad_values_are_reported_and_can_be_skipped(study: Study, tmp_path: Path) -> None:
    path = tmp_path / "values.csv"
    path.write_text(
        "id,observed_on,user_id,scientific_name,latitude,longitude\n"
        "1,2020-05-01,7,Rudbeckia hirta,40.1,-75.2\n"
        "2,yesterday,7,Rudbeckia hirta,40.1,-75.2\n"
        "3,2020-05-01,7,Rudbeckia hirta,140.1,-75.2\n"
        "4,2020-05-01,,Rudbeckia hirta,40.1,-75.2\n"
    )
    with pytest.raises(InputError, match="not a date: yesterday") as err:
        ingest_inat_csv(study, path)
    assert err.value.line == 3
    report = ingest_inat_csv(study, path, max_rejects=3)
    assert (report.rows_read, report.rows_kept, report.rows_rejected) == (4, 1, 3)
    assert [(r.line, r.field) for r in report.rejections] == [
        (3, "observed_on"),
        (4, "latitude"),
        (5, "user_id"),
    ]
    assert study.counts()["observations"] == 1
