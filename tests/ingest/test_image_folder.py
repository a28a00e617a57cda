from __future__ import annotations

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
