"""Calibration stays honest with a prior: `fieldguide calibrate MODEL LISTING --prior PRIOR`
fits the temperature on the combined output and reports the ECE before and after the prior
(real ONNX model and JPEGs from tests/identification, a real counts prior)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from fieldguide.cli.main import app
from fieldguide.identification.calibration import combined_nll, fit_combined_temperature
from fieldguide.identification.posterior import softmax
from fieldguide.priors import Context, save_prior
from fieldguide.priors.counts import build_counts
from fieldguide.priors.observations import Observations
from tests.identification.conftest import CLASSES, write_photos, write_tiny_model

#: each colour lives at its own longitude (same latitude), all year
LONGITUDE = {"blue": -120.0, "green": -90.0, "red": -60.0}


def colour_prior(folder: Path) -> Path:
    rng = np.random.default_rng(1)
    taxon = np.repeat(np.arange(3), 60)
    lon = np.array([LONGITUDE[CLASSES[k]] for k in taxon]) + rng.uniform(-1, 1, len(taxon))
    lat = 40 + rng.uniform(-1, 1, len(taxon))
    doy = rng.integers(1, 366, len(taxon)).astype(np.float64)
    obs = Observations(taxon, lat, lon, doy, np.arange(len(taxon)), list(CLASSES),
                       np.full(3, -1, dtype=np.int64), [], "species")
    save_prior(build_counts(obs), folder)
    return folder


def test_calibrate_with_prior_fits_on_the_combined_output(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "model", scale=1.5)
    prior = colour_prior(tmp_path / "prior")
    listing = tmp_path / "photos.csv"
    with listing.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["photo_id", "path", "label", "split", "latitude", "longitude",
                    "observed_on"])
        for i, (path, label) in enumerate(write_photos(tmp_path / "img", 36)):
            w.writerow([f"p{i}", path, label, "val", 40.0, LONGITUDE[label], "2022-06-01"])
    res = CliRunner().invoke(app, ["calibrate", str(model), str(listing), "--prior", str(prior)])
    assert res.exit_code == 0, res.output
    assert "fitted after the counts-prior" in res.output and "(prior, T=1)" in res.output
    card = json.loads((model / "model.json").read_text())
    cal = card["metrics"]["calibration"]
    assert cal["prior"] == "counts-prior" and card["temperature"] == cal["temperature"]
    assert cal["accuracy_prior"] >= cal["accuracy"]
    assert cal["nll_after"] <= cal["nll_prior"] + 1e-9
    for key in ("ece_before", "ece_prior", "ece_after"):
        assert 0 <= cal[key] <= 1


def test_combined_temperature_minimises_the_combined_nll(tmp_path: Path) -> None:
    from fieldguide.priors import load_prior

    prior = load_prior(colour_prior(tmp_path / "prior"))
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(0, 1, (300, 3))
    logits[np.arange(300), y] += 1.0
    ctx = Context.of(np.full(300, 40.0), [LONGITUDE[CLASSES[k]] for k in y], np.full(300, 150))
    combine = lambda p: prior.apply(p, ctx, CLASSES).probs  # noqa: E731
    t = fit_combined_temperature(logits, y, combine)
    best = combined_nll(logits, y, combine, t)
    assert all(best <= combined_nll(logits, y, combine, t * f) + 1e-9 for f in (0.8, 1.25))
    # the prior sharpens the output, so the temperature fitted after it differs from vision's
    plain = float(-np.mean(np.log(softmax(logits)[np.arange(300), y])))
    assert best < plain
