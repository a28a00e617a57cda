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


# Real-shaped exports with iNaturalist's optional rank columns (values as the site writes
# them: full binomials in taxon_species_name, full trinomials in taxon_subspecies_name).
_RANKED = ["id", "observed_on", "user_id", "user_login", "scientific_name", "taxon_id",
           "iconic_taxon_name", "taxon_kingdom_name", "taxon_class_name", "taxon_family_name",
           "taxon_genus_name", "taxon_species_name", "taxon_subspecies_name"]


def _export(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _lineage(study: Study, name: str) -> list[tuple[str | None, str]]:
    """(rank, name) from the taxon up to its root."""
    rows = study.con.execute("""
        WITH RECURSIVE up(id, depth) AS (
            SELECT taxon_id, 0 FROM taxa WHERE name = ?
            UNION ALL SELECT t.parent_id, depth + 1 FROM up JOIN taxa t ON t.taxon_id = up.id
            WHERE t.parent_id IS NOT NULL)
        SELECT t.rank, t.name FROM up JOIN taxa t ON t.taxon_id = up.id ORDER BY depth""",
        [name]).fetchall()
    return [(r, n) for r, n in rows]


def test_iconic_taxon_gives_bees_butterflies_and_birds_a_kingdom_and_class(
    study: Study, tmp_path: Path
) -> None:
    # Only genus and species rank columns exported, as a user ticking a few boxes does.
    header = ["id", "observed_on", "user_id", "scientific_name", "taxon_id",
              "iconic_taxon_name", "taxon_genus_name", "taxon_species_name"]
    rows = [
        {"id": "1", "observed_on": "2021-06-01", "user_id": "5", "scientific_name":
         "Apis mellifera", "taxon_id": "47219", "iconic_taxon_name": "Insecta",
         "taxon_genus_name": "Apis", "taxon_species_name": "Apis mellifera"},
        {"id": "2", "observed_on": "2021-06-02", "user_id": "5", "scientific_name":
         "Danaus plexippus", "taxon_id": "48662", "iconic_taxon_name": "Insecta",
         "taxon_genus_name": "Danaus", "taxon_species_name": "Danaus plexippus"},
        {"id": "3", "observed_on": "2021-06-03", "user_id": "6", "scientific_name":
         "Turdus migratorius", "taxon_id": "12727", "iconic_taxon_name": "Aves",
         "taxon_genus_name": "Turdus", "taxon_species_name": "Turdus migratorius"},
    ]
    ingest_inat_csv(study, _export(tmp_path / "fauna.csv", header, rows))
    assert _lineage(study, "Apis mellifera") == [
        ("species", "Apis mellifera"), ("genus", "Apis"), ("class", "Insecta"),
        ("phylum", "Arthropoda"), ("kingdom", "Animalia")]
    assert _lineage(study, "Turdus migratorius")[-3:] == [
        ("class", "Aves"), ("phylum", "Chordata"), ("kingdom", "Animalia")]
    # One Insecta and one Animalia: the two insects share their higher taxa.
    assert scalar(study.con, "SELECT count(*) FROM taxa WHERE name = 'Insecta'") == 1
    assert scalar(study.con, "SELECT count(*) FROM taxa WHERE name = 'Animalia'") == 1
    # The iconic taxon with no rank columns at all, and a contradicting iconic taxon ignored.
    plain = ["id", "observed_on", "user_id", "scientific_name", "iconic_taxon_name",
             "taxon_kingdom_name"]
    ingest_inat_csv(study, _export(tmp_path / "plain.csv", plain, [
        {"id": "4", "observed_on": "2021-06-04", "user_id": "6", "scientific_name":
         "Bombus impatiens", "iconic_taxon_name": "Insecta", "taxon_kingdom_name": ""},
        {"id": "5", "observed_on": "2021-06-04", "user_id": "6", "scientific_name":
         "Rudbeckia hirta", "iconic_taxon_name": "Insecta", "taxon_kingdom_name": "Plantae"},
    ]))
    assert _lineage(study, "Bombus impatiens")[2] == ("class", "Insecta")
    assert _lineage(study, "Rudbeckia hirta") == [
        ("species", "Rudbeckia hirta"), ("genus", "Rudbeckia"), ("kingdom", "Plantae")]


def test_subspecies_and_varieties_sit_under_their_species(study: Study, tmp_path: Path) -> None:
    # No species column: the species comes from the name, never the genus as parent.
    header = ["id", "observed_on", "user_id", "scientific_name", "taxon_id",
              "iconic_taxon_name", "taxon_kingdom_name", "taxon_genus_name"]
    base = {"observed_on": "2020-07-01", "user_id": "9", "iconic_taxon_name": "Plantae",
            "taxon_kingdom_name": "Plantae", "taxon_genus_name": "Rudbeckia"}
    rows = [
        {**base, "id": "1", "scientific_name": "Rudbeckia hirta pulcherrima", "taxon_id": "81354"},
        {**base, "id": "2", "scientific_name": "Rudbeckia fulgida var. sullivantii",
         "taxon_id": "129219"},
        {**base, "id": "3", "scientific_name": "Rudbeckia hirta", "taxon_id": "62741"},
    ]
    ingest_inat_csv(study, _export(tmp_path / "infra.csv", header, rows))
    assert _lineage(study, "Rudbeckia hirta pulcherrima")[:3] == [
        ("subspecies", "Rudbeckia hirta pulcherrima"), ("species", "Rudbeckia hirta"),
        ("genus", "Rudbeckia")]
    assert _lineage(study, "Rudbeckia fulgida var. sullivantii")[:2] == [
        ("variety", "Rudbeckia fulgida var. sullivantii"), ("species", "Rudbeckia fulgida")]
    # The species named on its own rows and as the subspecies' parent is one taxon, with
    # iNaturalist's id although the subspecies row came first.
    assert study.con.execute("SELECT count(*), min(source_key) FROM taxa WHERE name = "
                             "'Rudbeckia hirta'").fetchone() == (1, "62741")


def test_ranked_export_with_subspecies_column(study: Study, tmp_path: Path) -> None:
    base = {"observed_on": "2020-07-01", "user_id": "9", "user_login": "ann",
            "iconic_taxon_name": "Insecta", "taxon_kingdom_name": "Animalia",
            "taxon_class_name": "Insecta", "taxon_family_name": "Megachilidae",
            "taxon_genus_name": "Ashmeadiella", "taxon_species_name": "Ashmeadiella cactorum"}
    rows = [{**base, "id": "1", "scientific_name": "Ashmeadiella cactorum basalis",
             "taxon_id": "1", "taxon_subspecies_name": "Ashmeadiella cactorum basalis"}]
    ingest_inat_csv(study, _export(tmp_path / "bee.csv", _RANKED, rows))
    assert _lineage(study, "Ashmeadiella cactorum basalis") == [
        ("subspecies", "Ashmeadiella cactorum basalis"), ("species", "Ashmeadiella cactorum"),
        ("genus", "Ashmeadiella"), ("family", "Megachilidae"), ("class", "Insecta"),
        ("phylum", "Arthropoda"), ("kingdom", "Animalia")]


@pytest.mark.parametrize("order", ["ids first", "logins first"])
def test_one_observer_per_person_across_files_with_ids_logins_or_both(
    study: Study, tmp_path: Path, order: str
) -> None:
    """The rule: the observer is the user_id; a login-only file is mapped through the
    (user_id, user_login) pairs any file in the study gives, whichever comes first."""
    both = _export(tmp_path / "both.csv", ["id", "observed_on", "user_id", "user_login",
                                           "scientific_name"], [
        {"id": "1", "observed_on": "2020-01-01", "user_id": "17", "user_login": "ann",
         "scientific_name": "Rudbeckia hirta"},
        {"id": "2", "observed_on": "2020-01-01", "user_id": "18", "user_login": "bob",
         "scientific_name": "Rudbeckia hirta"}])
    logins = _export(tmp_path / "logins.csv", ["id", "observed_on", "user_login",
                                               "scientific_name"], [
        {"id": "3", "observed_on": "2020-01-02", "user_login": "ann",
         "scientific_name": "Rudbeckia hirta"},
        {"id": "4", "observed_on": "2020-01-02", "user_login": "cyd",
         "scientific_name": "Rudbeckia hirta"}])
    ids = _export(tmp_path / "ids.csv", ["id", "observed_on", "user_id", "scientific_name"], [
        {"id": "5", "observed_on": "2020-01-03", "user_id": "18",
         "scientific_name": "Rudbeckia hirta"}])
    files = [both, logins, ids] if order == "ids first" else [logins, ids, both]
    for path in files:
        ingest_inat_csv(study, path)
    observers = dict(study.con.execute(
        "SELECT observation_id, observer FROM observations").fetchall())
    assert observers == {"1": "17", "2": "18", "3": "17", "4": "cyd", "5": "18"}


def test_species_and_subspecies_keep_their_ids_whatever_the_row_order(
    rudbeckia: Path, tmp_path: Path
) -> None:
    """The real export holds Rudbeckia hirta and two of its subspecies: the species keeps
    iNaturalist's id 62741 on every run and in either row order."""
    with rudbeckia.open(newline="", encoding="utf-8") as f:
        header, *records = list(csv.reader(f))
    keep = [r for r in records if r[header.index("scientific_name")] != "Rudbeckia hirta"]
    keep += [r for r in records if r[header.index("scientific_name")] == "Rudbeckia hirta"][:40]
    seen = set()
    for run, rows in enumerate([keep, keep[::-1], keep, keep[::-1]]):
        path = tmp_path / f"run{run}.csv"
        with path.open("w", newline="", encoding="utf-8") as out:
            csv.writer(out, lineterminator="\n").writerows([header, *rows])
        with Study(tmp_path / f"study{run}") as study:
            ingest_inat_csv(study, path)
            seen.add(tuple(study.con.execute(
                "SELECT t.name, t.rank, t.source_key, p.name FROM taxa t "
                "LEFT JOIN taxa p ON p.taxon_id = t.parent_id ORDER BY t.name").fetchall()))
    assert len(seen) == 1
    assert ("Rudbeckia hirta", "species", "62741", "Rudbeckia") in next(iter(seen))
    assert ("Rudbeckia hirta pulcherrima", "subspecies", "81354", "Rudbeckia hirta") in next(
        iter(seen))


_VALUES = ["id", "observed_on", "time_observed_at", "user_id", "scientific_name", "latitude",
           "longitude", "positional_accuracy", "captive_cultivated", "image_url"]
_GOOD = {"observed_on": "2020-05-01", "time_observed_at": "2020-05-01 10:11:12 -0500",
         "user_id": "7", "scientific_name": "Rudbeckia hirta", "latitude": "40.1",
         "longitude": "-75.2", "positional_accuracy": "12", "captive_cultivated": "false"}


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("scientific_name", "Rud\x00beckia hirta", "NUL byte"),
    ("user_id", "7\x00", "NUL byte"),
    ("latitude", "nan", "not a latitude"),
    ("longitude", "-181", "not a longitude"),
    ("latitude", "north", "not a latitude"),
    ("observed_on", "2999-01-01", "date in the future"),
    ("observed_on", "2020-13-45", "not a date"),
    ("time_observed_at", "half past ten", "not a time"),
    ("time_observed_at", "2999-01-01 10:00:00 -0500", "time in the future"),
    ("positional_accuracy", "about 10 m", "not a number >= 0"),
    ("positional_accuracy", "-5", "not a number >= 0"),
    ("captive_cultivated", "maybe", "not true/false"),
])
def test_a_wrong_value_is_one_rejection_naming_line_and_field(
    study: Study, tmp_path: Path, field: str, value: str, reason: str
) -> None:
    rows = [{**_GOOD, "id": "1", "image_url": "https://x.org/photos/11/medium.jpg"},
            {**_GOOD, "id": "2", "image_url": "https://x.org/photos/12/medium.jpg", field: value},
            {**_GOOD, "id": "3", "image_url": "https://x.org/photos/13/medium.jpg"}]
    path = _export(tmp_path / "values.csv", _VALUES, rows)
    with pytest.raises(InputError, match=reason) as err:
        ingest_inat_csv(study, path)
    assert (err.value.path, err.value.line, err.value.field) == (str(path), 3, field)
    assert study.counts()["observations"] == 0
    report = ingest_inat_csv(study, path, max_rejects=1)
    assert (report.rows_read, report.rows_kept, report.rows_rejected) == (3, 2, 1)
    assert [(r.line, r.field) for r in report.rejections] == [(3, field)]
    assert sorted(study.con.execute("SELECT observation_id FROM observations").fetchall()) == [
        ("1",), ("3",)]


def test_good_values_are_stored_as_parsed(study: Study, tmp_path: Path) -> None:
    rows = [{**_GOOD, "id": "1", "captive_cultivated": "TRUE", "positional_accuracy": "",
             "image_url": "https://x.org/photos/11/medium.jpg"}]
    ingest_inat_csv(study, _export(tmp_path / "good.csv", _VALUES, rows))
    assert study.con.execute(
        "SELECT captive, positional_accuracy, observed_at FROM observations").fetchall() == [
        (True, None, dt.datetime(2020, 5, 1, 15, 11, 12))]


def test_one_photo_on_two_observations_is_refused(study: Study, tmp_path: Path) -> None:
    url = "https://static.inaturalist.org/photos/99/medium.jpg"
    rows = [{**_GOOD, "id": "1", "image_url": url}, {**_GOOD, "id": "2", "image_url": url},
            {**_GOOD, "id": "3", "image_url": "https://x.org/photos/98/small.jpg"}]
    path = _export(tmp_path / "shared.csv", _VALUES, rows)
    report = ingest_inat_csv(study, path, max_rejects=2)
    assert [(r.line, r.field) for r in report.rejections] == [(2, "image_url"),
                                                              (3, "image_url")]
    assert "shared with another observation: 99" in report.rejections[0].reason
    # A photo already in the study, on an observation of another file, is refused too.
    again = _export(tmp_path / "again.csv", _VALUES, [
        {**_GOOD, "id": "4", "image_url": "https://x.org/photos/98/large.jpg"}])
    with pytest.raises(InputError, match="photo 98 is already in the study") as err:
        ingest_inat_csv(study, again)
    assert (err.value.line, err.value.field) == (2, "image_url")


def test_a_latin1_export_is_read_with_its_encoding(study: Study, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,observed_on,user_id,scientific_name,place_guess\n"
                     "1,2020-01-02,3,Crepis capillaris,Malmö\n".encode("latin-1"))
    with pytest.raises(InputError, match="--encoding"):
        ingest_inat_csv(study, path)
    ingest_inat_csv(study, path, encoding="latin-1")
    assert study.con.execute("SELECT place FROM observations").fetchall() == [("Malmö",)]
