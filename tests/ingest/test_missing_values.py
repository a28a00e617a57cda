"""Missing values and labels through the real CLI, on real exports made R-style.

R writes a missing value as ``NA`` (and quotes every text); pandas, spreadsheets and database
dumps write ``N/A``, ``#N/A``, ``NULL``, ``\\N``. An optional column's missing value must never
cost the row, a required one is still refused with file, line and field, and a folder label
is stored byte for byte as the folder is named.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fieldguide.cli.main import app
from fieldguide.ingest.rowchecks import MISSING_VALUES
from fieldguide.store import Study

runner = CliRunner()
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
TAYLOR = "observations/inat_flowering_taylor2019"


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output.replace("\n", " ")


def _r_style(src: Path, dst: Path, *, delimiter: str = ",", quote: bool = True,
             token: str = "NA") -> int:
    """Copy a real table as R's write.csv does: every empty cell ``NA`` (unquoted), texts
    quoted, numbers bare. Return how many cells became ``token``."""
    written = 0
    with src.open(encoding="utf-8", newline="") as f, dst.open("w", encoding="utf-8") as out:
        reader = csv.reader(f, delimiter=delimiter) if quote else (
            line.rstrip("\n").split(delimiter) for line in f)
        out.write(delimiter.join(next(reader)) + "\n")
        for row in reader:
            cells = []
            for value in row:
                if not value.strip():
                    cells.append(token)
                    written += 1
                elif not quote or NUMBER.fullmatch(value):
                    cells.append(value)
                else:
                    cells.append('"' + value.replace('"', '""') + '"')
            out.write(delimiter.join(cells) + "\n")
    return written


def _rows(study: Path, sql: str) -> list[tuple[object, ...]]:
    with Study(study) as s:
        return [tuple(r) for r in s.con.execute(sql).fetchall()]


OBSERVATIONS = "SELECT * EXCLUDE (import_id) FROM observations ORDER BY observation_id"


def test_an_r_style_inat_export_keeps_every_row_and_stores_what_the_original_does(
    tmp_path: Path, shared_data: Path
) -> None:
    original = shared_data / TAYLOR / "inat_rudbeckia_hirta.csv"
    r_style = tmp_path / "rudbeckia_from_r.csv"
    assert _r_style(original, r_style) > 10_000  # 1,278 accuracies, 258 times, 1,818 licences...
    code, out = _cli("ingest", "inat", str(r_style), "-s", str(tmp_path / "r"))
    assert code == 0, out
    assert "read 5,408, kept 5,408, rejected 0" in out
    code, out = _cli("ingest", "inat", str(original), "-s", str(tmp_path / "plain"))
    assert code == 0, out
    from_r = _rows(tmp_path / "r", OBSERVATIONS)
    assert from_r == _rows(tmp_path / "plain", OBSERVATIONS)
    assert not [r for r in from_r if "NA" in r]  # no 'NA' stored as a place, licence...
    photos = "SELECT photo_id, observation_id, url FROM photos ORDER BY photo_id"
    assert _rows(tmp_path / "r", photos) == _rows(tmp_path / "plain", photos)


_HEADER = ("id,observed_on,time_observed_at,user_id,user_login,scientific_name,taxon_id,"
           "latitude,longitude,positional_accuracy,captive_cultivated,license,place_guess,"
           "quality_grade,image_url\n")
_ROW = ("{id},2020-05-01,2020-05-01 10:11:12 -0500,7,ann,Rudbeckia hirta,{taxon},40.1,-75.2,"
        "12,false,CC-BY,Here,research,https://x.org/photos/{id}/medium.jpg\n")


@pytest.mark.parametrize("token", [t for t in MISSING_VALUES if t])
def test_every_missing_spelling_is_missing_in_every_optional_inat_column(
    tmp_path: Path, token: str
) -> None:
    optional = ["time_observed_at", "user_login", "taxon_id", "latitude", "longitude",
                "positional_accuracy", "captive_cultivated", "license", "place_guess",
                "quality_grade", "image_url"]
    columns = _HEADER.strip().split(",")
    row = _ROW.format(id=2, taxon=48).strip().split(",")
    for name in optional:
        row[columns.index(name)] = token
    path = tmp_path / "obs.csv"
    path.write_text(_HEADER + _ROW.format(id=1, taxon=48) + ",".join(row) + "\n")
    code, out = _cli("ingest", "inat", str(path), "-s", str(tmp_path / "s"))
    assert code == 0, out
    assert "read 2, kept 2, rejected 0" in out
    stored = _rows(tmp_path / "s", "SELECT observer, observed_at, latitude, longitude, "
                   "positional_accuracy, captive, license, place, quality_grade, taxon_id "
                   "FROM observations WHERE observation_id = '2'")
    assert stored[0][0] == "7" and stored[0][1:9] == (None,) * 8
    assert stored[0][9] is not None  # the name alone still gives the taxon
    assert _rows(tmp_path / "s", "SELECT count(*) FROM photos") == [(1,)]


@pytest.mark.parametrize(("column", "field", "reason"), [
    ("id", "id", "missing observation id"),
    ("user_id", "user_id", "no observer"),
])
def test_a_required_value_written_na_is_refused_with_file_line_and_field(
    tmp_path: Path, column: str, field: str, reason: str
) -> None:
    columns = _HEADER.strip().split(",")
    columns.remove("user_login")
    header = ",".join(columns) + "\n"
    rows = [_ROW.format(id=i, taxon=48).replace(",ann,", ",") for i in (1, 2, 3)]
    bad = rows[1].strip().split(",")
    bad[columns.index(column)] = "NA"
    path = tmp_path / "obs.csv"
    path.write_text(header + rows[0] + ",".join(bad) + "\n" + rows[2])
    code, out = _cli("ingest", "inat", str(path), "-s", str(tmp_path / "s"))
    assert code == 2, out
    assert f"error: {path}, line 3, field '{field}': {reason}" in out
    assert _rows(tmp_path / "s", "SELECT count(*) FROM observations") == [(0,)]


def test_an_r_style_gbif_csv_keeps_every_row(tmp_path: Path, shared_data: Path) -> None:
    folder = shared_data / "observations/spotted_lanternfly_gbif_inat"
    r_style = tmp_path / "occurrences.csv"
    assert _r_style(folder / "cleaned_occurrence_df.csv", r_style) > 1000
    code, out = _cli("ingest", "gbif-csv", str(r_style), "--multimedia",
                     str(folder / "multimedia.txt"), "-s", str(tmp_path / "r"))
    assert code == 0, out
    assert "read 3,854, kept 3,854, rejected 0" in out
    code, out = _cli("ingest", "gbif-csv", str(folder / "cleaned_occurrence_df.csv"),
                     "--multimedia", str(folder / "multimedia.txt"), "-s", str(tmp_path / "p"))
    assert code == 0, out
    assert _rows(tmp_path / "r", OBSERVATIONS) == _rows(tmp_path / "p", OBSERVATIONS)


def test_a_required_gbif_id_written_null_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "occ.csv"
    path.write_text("gbifID,eventDate,scientificName,decimalLatitude,decimalLongitude\n"
                    "1,2021-06-30,Lycorma delicatula,40.5,-74.5\n"
                    "NULL,2021-06-30,Lycorma delicatula,NA,NA\n")
    code, out = _cli("ingest", "gbif-csv", str(path), "-s", str(tmp_path / "s"))
    assert code == 2, out
    assert f"error: {path}, line 3, field 'gbifID': missing gbifID" in out


def test_an_r_style_darwin_core_archive_keeps_every_row(tmp_path: Path,
                                                        shared_data: Path) -> None:
    real = shared_data / "observations/gbif_dwca_amblyomma_sample"
    archive = tmp_path / "dwca"
    archive.mkdir()
    for name in ("meta.xml", "multimedia.txt", "verbatim.txt"):
        shutil.copy(real / name, archive / name)
    assert _r_style(real / "occurrence.txt", archive / "occurrence.txt", delimiter="\t",
                    quote=False, token="NA") > 10_000
    code, out = _cli("ingest", "dwca", str(archive), "-s", str(tmp_path / "r"))
    assert code == 0, out
    assert "read 1,310, kept 1,310, rejected 0" in out
    code, out = _cli("ingest", "dwca", str(real), "-s", str(tmp_path / "p"))
    assert code == 0, out
    from_r = _rows(tmp_path / "r", OBSERVATIONS)
    plain = _rows(tmp_path / "p", OBSERVATIONS)
    # The real archive writes one locality as the text 'null': missing, read the same way.
    assert from_r == plain and not [r for r in plain if "null" in r]
    taxa = "SELECT name, rank FROM taxa ORDER BY name, rank"
    assert _rows(tmp_path / "r", taxa) == _rows(tmp_path / "p", taxa)


def test_na_in_an_imageant_trait_table_is_not_annotated(tmp_path: Path,
                                                         shared_data: Path) -> None:
    export = shared_data / TAYLOR / "inat_rudbeckia_hirta.csv"
    code, out = _cli("ingest", "inat", str(export), "-s", str(tmp_path / "s"))
    assert code == 0, out
    lines = (shared_data / TAYLOR / "labels_imageant_rudbeckia.csv").read_text().splitlines()
    first = lines[1].split(",")
    first[1] = "NA"  # open_flowers of the first photo: not annotated
    table = tmp_path / "labels.csv"
    table.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n")
    code, out = _cli("ingest", "traits", str(table), "-s", str(tmp_path / "s"))
    assert code == 0, out
    assert "read 5,408, kept 5,408, rejected 0" in out
    assert _rows(tmp_path / "s", "SELECT count(*) FROM traits") == [(2 * 5408 - 1,)]


def test_na_in_the_open_data_tables_is_missing(tmp_path: Path, shared_data: Path) -> None:
    real = shared_data / "inat_api/pyinaturalist_convert_sample_data/inaturalist-open-data"
    folder = tmp_path / "open-data"
    folder.mkdir()
    for table in real.iterdir():
        text = table.read_text(encoding="utf-8")
        if table.name == "observations.csv":  # empty accuracy and coordinates written as NA
            text = re.sub(r"(?<=\t)(?=\t)", "NA", text)
        (folder / table.name).write_text(text, encoding="utf-8")
    code, out = _cli("ingest", "inat-open-data", str(folder), "--max-rejects", "2",
                     "-s", str(tmp_path / "s"))
    assert code == 0, out
    assert "read 50, kept 48, rejected 2" in out  # 2 rows with 9 fields under 8 columns
    code, out = _cli("ingest", "inat-open-data", str(real), "--max-rejects", "2",
                     "-s", str(tmp_path / "p"))
    assert code == 0, out
    assert _rows(tmp_path / "s", OBSERVATIONS) == _rows(tmp_path / "p", OBSERVATIONS)


def test_na_in_an_image_folder_sidecar_is_no_value(tmp_path: Path, shared_data: Path) -> None:
    daisy = sorted((shared_data / "images/oxford_flowers12/train/daisy").iterdir())[:2]
    root = tmp_path / "photos"
    (root / "daisy").mkdir(parents=True)
    for i, src in enumerate(daisy):
        shutil.copy(src, root / "daisy" / f"{i}.jpg")
    (root / "observations.csv").write_text(
        "path,observation_id,observer,latitude,longitude,observed_on\n"
        "daisy/0.jpg,o1,NA,NA,N/A,NA\ndaisy/1.jpg,o2,ann,51.5,-0.1,2020-05-01\n")
    code, out = _cli("ingest", "images", str(root), "-s", str(tmp_path / "s"))
    assert code == 0, out
    assert _rows(tmp_path / "s", "SELECT observation_id, observer, latitude, observed_on "
                 "FROM observations ORDER BY 1")[0] == ("o1", None, None, None)


LABELS = ['Bellis "perennis"', "O'Brien's daisy", "Rosa 'Peace'", "Bellis perennis",
          "Rosa", "“Quoted” daisy"]


def test_a_quoted_folder_label_is_stored_byte_for_byte(tmp_path: Path,
                                                       shared_data: Path) -> None:
    photo = sorted((shared_data / "images/oxford_flowers12/train/daisy").iterdir())[0]
    root = tmp_path / "photos"
    for label in LABELS:
        (root / label).mkdir(parents=True)
        shutil.copy(photo, root / label / "a.jpg")
    code, out = _cli("ingest", "images", str(root), "-s", str(tmp_path / "s"))
    assert code == 0, out
    stored = dict(_rows(tmp_path / "s", """
        SELECT o.verbatim_name, t.name FROM observations o JOIN taxa t USING (taxon_id)"""))
    assert set(stored) == set(LABELS)  # the label as the folder names it, byte for byte
    for label in ('Bellis "perennis"', "O'Brien's daisy", "Rosa 'Peace'", "“Quoted” daisy"):
        assert stored[label] == label  # its own class, never cut to the genus
    assert stored["Bellis perennis"] == "Bellis perennis"
    parents = dict(_rows(tmp_path / "s", "SELECT t.name, p.name FROM taxa t "
                         "LEFT JOIN taxa p ON p.taxon_id = t.parent_id"))
    assert parents['Bellis "perennis"'] == "Bellis" and parents["Rosa 'Peace'"] == "Rosa"
    assert len({stored[label] for label in LABELS}) == len(LABELS)
