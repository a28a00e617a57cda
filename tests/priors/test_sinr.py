"""The SINR prior: trained with torch (skipped where torch is missing), exported as NumPy
weights, loaded and scored in a process where torch cannot be imported."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fieldguide.priors import Context, fit_prior, load_prior, read_study, save_prior
from fieldguide.priors.sinr import SinrPrior, features
from fieldguide.priors.sinr_train import train_sinr
from fieldguide.priors.synthetic import CLASSES, make_lookalike_study
from fieldguide.store import Study
from tests.notorch import NO_TORCH

#: Score a saved prior in a process where torch cannot be imported.
SCORE_WITHOUT_TORCH = NO_TORCH + """
import json
import numpy as np
from fieldguide.priors import Context, load_prior
prior = load_prior(sys.argv[1])
ctx = Context.of(*json.loads(sys.argv[2]))
out = prior.apply(np.full((len(ctx), len(prior.names)), 1 / len(prior.names)), ctx, prior.names)
print(json.dumps({"probs": out.probs.tolist(), "score": out.score.tolist()}))
"""

#: west in spring, east in autumn, the middle in spring and in autumn, and no date
POINTS = [[40.0, 40.0, 40.0, 40.0, 40.0], [-110.0, -75.0, -90.0, -90.0, -110.0],
          [100.0, 260.0, 100.0, 260.0, float("nan")]]


def test_features_are_sin_cos_of_place_and_day() -> None:
    x = features(np.array([90.0, 0.0]), np.array([180.0, -90.0]), np.array([91.5, np.nan]))
    assert x.shape == (2, 6)
    assert np.allclose(x[0, :4], [0, -1, 0, -1], atol=1e-6)   # pi*lon/180, pi*lat/90
    assert np.allclose(x[1, :4], [-1, 0, 0, 1], atol=1e-6)
    assert np.allclose(x[0, 4:], [1, 0], atol=1e-2)             # 2*pi*day/366: a quarter
    assert np.allclose(x[1, 4:], [0, 0])                        # no date: (0, 0)
    defaults = inspect.signature(train_sinr).parameters
    assert defaults["hidden"].default == 256 and defaults["pos_weight"].default == 2048.0


def test_export_matches_the_torch_network() -> None:
    torch = pytest.importorskip("torch")
    from fieldguide.priors.sinr_train import _export, _Net

    torch.manual_seed(0)
    net = _Net(torch, 6, 16, 2, 5)
    arrays = _export(net, 2)
    arrays.update(thresholds=np.zeros(5, np.float32), taxon_count=np.ones(5, np.float32))
    prior = SinrPrior({"rank": "species", "floor": 0.005, "season": True, "blocks": 2},
                      arrays, [f"t{i}" for i in range(5)])
    x = features(np.array([10.0, -30.0]), np.array([20.0, 150.0]), np.array([5.0, np.nan]))
    with torch.no_grad():
        expected = torch.sigmoid(net(torch.as_tensor(x))).numpy()
    got = prior.presence(x, np.array([0, 1, 2, 3, 4, -1]))
    assert np.allclose(got[:, :5], expected, atol=1e-5) and (got[:, 5] == 0).all()


def test_trained_sinr_scores_without_torch(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    with Study(tmp_path / "s") as s:
        make_lookalike_study(s, observations=2000)
        obs = read_study(s)
    prior = fit_prior(obs, "sinr", hidden=48, blocks=2, epochs=8, lr=5e-3, batch_size=256,
                      device="cpu")
    save_prior(prior, tmp_path / "p")
    assert json.loads((tmp_path / "p" / "prior.json").read_text())["params"]["pos_weight"] == 2048
    done = subprocess.run([sys.executable, "-c", SCORE_WITHOUT_TORCH, str(tmp_path / "p"),
                           json.dumps(POINTS).replace("NaN", "null")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    score = np.array(got["score"])
    here = load_prior(tmp_path / "p").apply(np.full((5, 4), 0.25),
                                             Context.of(*POINTS), prior.names)
    assert here.score is not None
    assert np.allclose(score, here.score) and np.allclose(got["probs"], here.probs)
    vern, autu = prior.names.index(CLASSES[0]), prior.names.index(CLASSES[1])
    assert score[0, vern] > score[0, autu] and score[1, autu] > score[1, vern]
    assert np.isfinite(score[4]).all()     # no date: the all-year map, not a guessed day
    assert ((prior.thresholds > 0) & (prior.thresholds <= 1)).all()
