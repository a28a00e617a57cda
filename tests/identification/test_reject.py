"""Rejection through the CLI on a real (tiny) ONNX model with an embedding output:
`fieldguide reject fit` stores the rejector in the model folder, `identify` then rejects by
default (and never auto-validates a rejected photo), `--no-reject` turns it off. The
flower-photo AUROC figures are measured by bench/reject.py (a full-size probe takes minutes)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image
from tests.search.conftest import COLOURS, write_tiny_model
from typer.testing import CliRunner

from fieldguide.cli.main import app
from fieldguide.identification.ood_scores import energy_score, msp_score
from fieldguide.identification.rejector_fit import auroc
from fieldguide.models.card import read_card


def colour_manifest(folder: Path, n: int = 60, side: int = 96) -> Path:
    """Noisy colour squares of the three classes (train, val, test), plus a photo too small
    and one too dark to use."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    names = list(COLOURS)
    with (folder / "manifest.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["photo_id", "path", "observation_id", "label", "split"])
        for i in range(n):
            label = names[i % 3]
            noisy = np.array(COLOURS[label], float) + rng.normal(0, 40, (side, side, 3))
            path = folder / f"p{i:03d}.jpg"
            Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path)
            w.writerow([f"p{i:03d}", path, f"o{i:03d}", label,
                        ("train", "train", "val", "test")[i % 4]])
        # a photo too small to use and one too dark: rejected for the photo, not the taxon
        Image.new("RGB", (20, 20), (200, 40, 30)).save(folder / "small.jpg")
        Image.fromarray(rng.integers(0, 8, (96, 96, 3), dtype=np.uint8)).save(folder / "dark.jpg")
        w.writerow(["small", folder / "small.jpg", "o-small", "red", "test"])
        w.writerow(["dark", folder / "dark.jpg", "o-dark", "red", "test"])
    return folder / "manifest.csv"


def test_scores_are_pure_and_temperature_free() -> None:
    sure, unsure = np.array([[9.0, 0.0, 0.0]]), np.array([[0.1, 0.0, 0.0]])
    assert msp_score(sure)[0] < msp_score(unsure)[0]
    assert energy_score(sure)[0] < energy_score(unsure)[0]
    assert auroc(np.array([0.0, 0.1]), np.array([0.9, 1.0])) == 1.0


def test_fit_then_identify_rejects_by_default(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "model")
    manifest = colour_manifest(tmp_path / "photos")
    runner = CliRunner()
    done = runner.invoke(app, ["reject", "fit", str(model), str(manifest), "--threads", "1"])
    assert done.exit_code == 0, done.output
    assert "rejection" in read_card(model).extras and (model / "rejection.npz").is_file()

    out = tmp_path / "ids.csv"
    done = runner.invoke(app, ["identify", str(model), str(manifest), "--split", "test",
                               "-o", str(out)])
    assert done.exit_code == 0, done.output
    with out.open(newline="") as f:
        rows = {r["photo_id"]: r for r in csv.DictReader(f)}
    assert {"ood_score", "rejected", "reject_reason"} <= set(next(iter(rows.values())))
    assert rows["small"]["rejected"] == "true" and "too small" in rows["small"]["reject_reason"]
    assert rows["dark"]["rejected"] == "true" and "too dark" in rows["dark"]["reject_reason"]
    for r in rows.values():
        if r["rejected"] == "true":
            assert r["auto_validated"] != "true"
    known = [r for pid, r in rows.items() if pid not in ("small", "dark")]
    assert sum(r["rejected"] == "true" for r in known) <= len(known) // 3

    plain = tmp_path / "plain.csv"
    done = runner.invoke(app, ["identify", str(model), str(manifest), "--split", "test",
                               "-o", str(plain), "--no-reject"])
    assert done.exit_code == 0, done.output
    with plain.open(newline="") as f:
        header = next(csv.reader(f))
    assert "rejected" not in header
