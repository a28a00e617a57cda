from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from fieldguide.errors import InputError
from fieldguide.training.data import PhotoDataset, collate, eval_transform
from fieldguide.training.manifest import read_manifest

PREP = {"size": 32, "crop_pct": 0.875, "mean": [0.5] * 3, "std": [0.5] * 3,
        "interpolation": "bilinear"}


def test_oxford_labels_csv(shared_data: Path) -> None:
    m = read_manifest(shared_data / "images/oxford_flowers12/labels.csv", "label")
    assert len(m.heads[0].classes) == 12 and m.heads[0].classes[0] == "bluebell"
    assert m.counts().tolist() == [60] * 12 and len(m.select("test")) == 240
    assert m.photo_ids[0] == "test/bluebell/image_0243.jpg" and m.paths[0].is_file()


def test_curation_manifest_with_ranks_and_traits(photos: Path) -> None:
    m = read_manifest(photos, ranks=["genus"], traits=["phenology2"])
    assert [(h.name, h.kind) for h in m.heads] == [
        ("taxon", "species"), ("genus", "rank"), ("phenology2", "trait")]
    assert m.heads[1].classes == ("Bellis", "Taraxacum")
    assert m.taxonomy["Bellis annua"]["genus"] == "Bellis"
    assert m.photo_ids[0] == "train-Bellis perennis-0"
    small = read_manifest(photos, max_per_class=2)
    assert small.counts().tolist() == [2, 2, 2]


def _rewrite(manifest: Path, out: Path, change: dict[int, dict[str, str]]) -> Path:
    rows = list(csv.DictReader(manifest.open()))
    for i, fields in change.items():
        rows[i].update(fields)
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


def test_class_missing_from_train_is_refused_by_name(photos: Path) -> None:
    last = len(list(csv.DictReader(photos.open()))) - 1  # a test photo
    bad = _rewrite(photos, photos.parent / "bad.csv", {last: {"taxon": "Viola odorata"}})
    with pytest.raises(InputError, match="'Viola odorata' has no training photo"):
        read_manifest(bad)
    with pytest.raises(InputError, match="missing column 'life_stage'"):
        read_manifest(photos, traits=["life_stage"])


def test_unreadable_and_truncated_photos_are_skipped_and_counted(tmp_path: Path,
                                                                  photos: Path) -> None:
    good = sorted(photos.parent.glob("train/*/*.jpg"))[:3]
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good[0].read_bytes()[:300])
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("hello")
    shutil.copy(good[1], tmp_path / "ok.jpg")
    paths = [truncated, tmp_path / "ok.jpg", not_image, tmp_path / "missing.jpg"]
    ds = PhotoDataset(paths, np.zeros((4, 1), dtype=np.int64), eval_transform(PREP))
    batch = collate([ds[i] for i in range(4)])
    assert batch.skipped == 3 and batch.images.shape == (1, 3, 32, 32)
    assert batch.indices.tolist() == [1]
    assert collate([None]).skipped == 1
