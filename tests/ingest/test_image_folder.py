from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from fieldguide.errors import InputError
from fieldguide.ingest import ingest_image_folder
from fieldguide.store import Study
from fieldguide.store.sql import scalar


def test_oxford_flowers_ingest_as_a_folder(study: Study, shared_data: Path) -> None:
    report = ingest_image_folder(study, shared_data / "images" / "oxford_flowers12")
    assert report.rows_kept == 960
    splits = dict(
        study.con.execute("SELECT source_split, count(*) FROM photos GROUP BY 1").fetchall()
    )
    assert splits == {"train": 720, "test": 240}
    per_label = study.con.execute("""SELECT t.name, count(*) FROM observations o
                                     JOIN taxa t USING (taxon_id) GROUP BY 1""").fetchall()
    assert len(per_label) == 12 and {n for _, n in per_label} == {80}
    assert scalar(study.con, "SELECT min(width) FROM photos") == 224


def _small_folder(shared_data: Path, tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for label in ("daisy", "iris"):
        (root / label).mkdir(parents=True)
        for src in sorted((shared_data / "images/oxford_flowers12/train" / label).iterdir())[:2]:
            shutil.copy(src, root / label / src.name)
    return root


def test_unreadable_images_are_reported(study: Study, shared_data: Path, tmp_path: Path) -> None:
    root = _small_folder(shared_data, tmp_path)
    (root / "daisy" / "notes.jpg").write_text("not an image")
    (root / "iris" / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="not a readable image"):
        ingest_image_folder(study, root)
    assert study.counts()["photos"] == 0
    report = ingest_image_folder(study, root, max_rejects=2)
    assert (report.rows_read, report.rows_kept) == (6, 4)
    assert sorted(r.reason.split(":")[0] for r in report.rejections) == [
        "daisy/notes.jpg",
        "iris/empty.jpg",
    ]


def test_strict_taxa_refuse_an_unknown_folder_name(
    study: Study, shared_data: Path, tmp_path: Path
) -> None:
    root = _small_folder(shared_data, tmp_path)
    with pytest.raises(InputError, match="unknown taxon name 'daisy'"):
        ingest_image_folder(study, root, taxa="strict")


def _photos(root: Path, *paths: str) -> Path:
    """Tiny real JPEGs at the given relative paths."""
    from PIL import Image

    for i, rel in enumerate(paths):
        file = root / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 6), (i * 20 % 255, 90, 30)).save(file)
    return root


def _taxon(study: Study, label: str) -> tuple[str, str | None, str | None, str | None]:
    """(name, rank, parent name, parent rank) of the taxon a folder's photos got."""
    row = study.con.execute("""
        SELECT t.name, t.rank, p.name, p.rank FROM observations o JOIN taxa t USING (taxon_id)
        LEFT JOIN taxa p ON p.taxon_id = t.parent_id WHERE o.verbatim_name = ? LIMIT 1""",
        [label]).fetchone()
    assert row is not None, label
    return row


def test_binomial_folders_are_species_under_their_genus(study: Study, tmp_path: Path) -> None:
    labels = ["Quercus buckleyi", "Quercus robur subsp. robur", "Quercus sp.", "Quercus spp.",
              "Acer_rubrum", "Acer", "daisy"]
    root = _photos(tmp_path / "photos", *(f"{label}/x.jpg" for label in labels))
    ingest_image_folder(study, root)
    assert _taxon(study, "Quercus buckleyi") == ("Quercus buckleyi", "species", "Quercus", "genus")
    assert _taxon(study, "Quercus robur subsp. robur") == (
        "Quercus robur subsp. robur", "subspecies", "Quercus robur", "species")
    assert _taxon(study, "Acer_rubrum") == ("Acer rubrum", "species", "Acer", "genus")
    # "sp." and "spp." both mean the genus: the very taxon the species sit under, and "Acer"
    # alone is the genus its species named.
    genus = ("Quercus", "genus", None, None)
    assert _taxon(study, "Quercus sp.") == _taxon(study, "Quercus spp.") == genus
    assert _taxon(study, "Acer") == ("Acer", "genus", None, None)
    assert scalar(study.con, "SELECT count(*) FROM taxa WHERE name = 'Quercus'") == 1
    assert _taxon(study, "daisy") == ("daisy", None, None, None)
    # No taxon is named "None", and every species has a genus.
    assert scalar(study.con, "SELECT count(*) FROM taxa WHERE name = 'None' OR rank = 'None'"
                  ) == 0
    assert scalar(study.con, """SELECT count(*) FROM taxa t LEFT JOIN taxa g
                                ON g.taxon_id = t.parent_id AND g.rank = 'genus'
                                WHERE t.rank = 'species' AND g.taxon_id IS NULL""") == 0


def test_folder_labels_match_the_ingested_taxonomy(
    study: Study, shared_data: Path, tmp_path: Path
) -> None:
    from fieldguide.ingest import ingest_taxonomy

    ingest_taxonomy(study, shared_data / "taxonomy/ott_asterales_gbif_ncbi/gbif_aster",
                    source="gbif")
    before = scalar(study.con, "SELECT count(*) FROM taxa")
    root = _photos(tmp_path / "photos", "Campanula rotundifolia/a.jpg",
                   "Centrocarpha grandiflora/b.jpg", "Rudbeckia/c.jpg")
    report = ingest_image_folder(study, root, taxa="strict")
    assert "3 label(s) matched to the study's taxonomy" in report.notes
    assert scalar(study.con, "SELECT count(*) FROM taxa") == before  # nothing new
    assert _taxon(study, "Campanula rotundifolia")[1:] == ("species", "Campanula", "genus")
    # A synonym's photos go to the accepted taxon.
    assert _taxon(study, "Centrocarpha grandiflora")[:2] == ("Rudbeckia grandiflora", "species")
    assert _taxon(study, "Rudbeckia")[:2] == ("Rudbeckia", "genus")


def test_observation_subfolders_keep_photos_of_one_organism_together(
    study: Study, tmp_path: Path
) -> None:
    root = _photos(tmp_path / "photos", "train/Acer rubrum/tree-1/a.jpg",
                   "train/Acer rubrum/tree-1/b.jpg", "train/Acer rubrum/c.jpg",
                   "test/Acer rubrum/tree-2/d.jpg")
    report = ingest_image_folder(study, root)
    assert report.counts["observations"] == 3 and report.counts["photos"] == 4
    rows = study.con.execute("""SELECT observation_id, photo_id, position, source_split
                                FROM photos ORDER BY photo_id""").fetchall()
    assert rows == [
        ("test/Acer rubrum/tree-2", "test/Acer rubrum/tree-2/d", 1, "test"),
        ("train/Acer rubrum/c", "train/Acer rubrum/c", 1, "train"),
        ("train/Acer rubrum/tree-1", "train/Acer rubrum/tree-1/a", 1, "train"),
        ("train/Acer rubrum/tree-1", "train/Acer rubrum/tree-1/b", 2, "train"),
    ]


def test_sidecar_groups_photos_and_gives_context(study: Study, tmp_path: Path) -> None:
    root = _photos(tmp_path / "photos", "Acer rubrum/a.jpg", "Acer rubrum/b.jpg",
                   "Acer rubrum/c.jpg", "Acer saccharum/d.jpg", "Acer saccharum/e.jpg")
    (root / "observations.csv").write_text(
        "path,observation_id,observer,latitude,longitude,observed_on\n"
        "Acer rubrum/a.jpg,obs-1,ann,45.5,-73.6,2021-05-01\n"
        "Acer rubrum/b.jpg,obs-1,ann,45.5,-73.6,2021-05-01\n"
        "Acer saccharum/d.jpg,obs-2,bob,45.1,-73.0,2021-06-02\n"
        "Acer saccharum/e.jpg,obs-1,ann,,,\n", encoding="utf-8")
    report = ingest_image_folder(study, root, max_rejects=3)
    # obs-1 spans two labels: all three of its photos are refused, saying why.
    assert report.rows_rejected == 3
    assert "one observation is one taxon" in report.rejections[0].reason
    rows = study.con.execute("""SELECT o.observation_id, o.observer, o.latitude, o.observed_on,
                                       count(*) FROM observations o JOIN photos USING
                                       (observation_id) GROUP BY ALL ORDER BY 1""").fetchall()
    assert rows == [("Acer rubrum/c", None, None, None, 1),
                    ("obs-2", "bob", 45.1, dt.date(2021, 6, 2), 1)]
    (root / "observations.csv").write_text(
        "path,observation_id,latitude\nAcer rubrum/a.jpg,obs-1,95\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"not a number in \[-90, 90\]") as err:
        ingest_image_folder(study, root, force=True)
    assert (err.value.line, err.value.field) == (2, "latitude")
