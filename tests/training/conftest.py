"""A tiny synthetic photo set (coloured squares, JPEG) and a spec for fast training tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

CLASSES = {"Bellis perennis": ("Bellis", "0"), "Bellis annua": ("Bellis", "1"),
           "Taraxacum officinale": ("Taraxacum", "1")}
COLOURS = {"Bellis perennis": (230, 230, 240), "Bellis annua": (200, 60, 200),
           "Taraxacum officinale": (240, 210, 20)}


def make_photos(root: Path, per_split: dict[str, int]) -> Path:
    """Write JPEGs and a curation-style manifest (photo_id, path, taxon, genus, phenology2,
    split); return the manifest path."""
    rng = np.random.default_rng(0)
    rows = []
    for split, n in per_split.items():
        for name, colour in COLOURS.items():
            for i in range(n):
                arr = np.clip(rng.normal(colour, 40, (40, 48, 3)), 0, 255).astype(np.uint8)
                rel = Path(split) / name.replace(" ", "_") / f"{i}.jpg"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr).save(root / rel, quality=90)
                genus, pheno = CLASSES[name]
                rows.append({"photo_id": f"{split}-{name}-{i}", "path": str(rel), "taxon": name,
                             "genus": genus, "phenology2": pheno, "split": split})
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """One torch thread: the test machine is shared and oversubscribed threads spin-wait."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_photos(tmp_path_factory.mktemp("photos"), {"train": 6, "val": 2, "test": 2})


def tiny_spec(manifest: Path, out: Path, **over: object) -> dict[str, object]:
    """A spec table: timm's 0.1M-parameter test network at 32 px, random weights, 2 epochs."""
    table: dict[str, object] = {
        "name": "tiny", "mode": "full", "seed": 1, "out": str(out),
        "data": {"manifest": str(manifest), "workers": 0},
        "model": {"backbone": "test_efficientnet", "weights": "", "image_size": 32},
        "augment": {"scale_min": 0.5},
        "optim": {"optimizer": "sgd", "lr": 0.05, "batch_size": 6, "epochs": 2},
        "probe": {"max_iter": 30},
        "run": {"export_onnx": False, "progress": False, "threads": 1},
    }
    for key, value in over.items():
        section, _, name = key.partition("__")
        if name:
            table[section] = {**table[section], name: value}  # type: ignore[dict-item]
        else:
            table[section] = value
    return table
