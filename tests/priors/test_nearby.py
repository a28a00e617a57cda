"""Expected-nearby: iNaturalist's old radius/day-window rule (1000 km, +/- 45 days) for the
counts prior, and the F1-optimal per-taxon thresholds (presence vs well-sampled absence
cells at H3 resolution 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fieldguide.identification.decision import haversine_km
from fieldguide.priors import Context, load_prior, save_prior
from fieldguide.priors.counts import RADIUS_KM, WINDOW_DAYS, build_counts
from fieldguide.priors.observations import Observations
from fieldguide.priors.thresholds import best_f1


def two_taxa(n: int = 40) -> Observations:
    """Taxon "a" near (40, -100) on days 95..105; "b" near (40, -70) on days 245..255."""
    rng = np.random.default_rng(0)
    taxon = np.repeat([0, 1], n)
    lat = 40 + rng.uniform(-0.2, 0.2, 2 * n)
    lon = np.where(taxon == 0, -100.0, -70.0) + rng.uniform(-0.2, 0.2, 2 * n)
    doy = np.where(taxon == 0, 100.0, 250.0) + rng.integers(-5, 6, 2 * n).astype(np.float64)
    return Observations(taxon, lat, lon, doy, np.arange(2 * n), ["a", "b"],
                        np.zeros(2, dtype=np.int64), ["g"], "species")


def test_radius_and_day_window_rule(tmp_path: Path) -> None:
    assert (RADIUS_KM, WINDOW_DAYS) == (1000.0, 45.0)
    save_prior(build_counts(two_taxa()), tmp_path / "p")
    prior = load_prior(tmp_path / "p")
    assert prior.rule == "radius"  # type: ignore[attr-defined]
    # ~430 km and ~1600 km east of "a"'s records; ~780 km north; days on and off its window
    lat = [40.0, 40.0, 40.0, 40.0, 47.0, 40.0]
    lon = [-95.0, -95.0, -95.0, -81.0, -100.0, -70.0]
    doy = [130.0, 200.0, np.nan, 100.0, 100.0, 250.0]
    assert haversine_km(np.array(40.0), np.array(-100.0), np.array(40.0),
                        np.array(-81.0)) > 1500
    near = prior.apply(np.full((6, 2), 0.5), Context.of(lat, lon, doy), ["a", "b"]
                       ).expected_nearby
    assert near is not None
    assert near[:, 0].tolist() == [True, False, True, False, True, False]
    assert near[:, 1].tolist() == [False, False, False, False, False, True]


def test_best_f1_threshold() -> None:
    taxa = np.array([0, 0, 0, 0, 0, 1, 1])
    score = np.array([0.9, 0.8, 0.6, 0.3, 0.2, 0.4, 0.1])
    label = np.array([1, 1, 0, 1, 0, 0, 0], dtype=bool)
    thr = best_f1(taxa, score, label, 3)
    # taxon 0: >= 0.8 gives F1 0.8, >= 0.3 gives 6/7 (best); taxon 1 and 2: no presence -> 1
    assert np.allclose(thr, [0.3, 1.0, 1.0])


def test_threshold_rule_separates_presence_from_absence(tmp_path: Path) -> None:
    obs = two_taxa()
    prior = build_counts(obs, min_effort=5)
    thr = prior.thresholds
    assert (thr > 0).all() and (thr < 1).all()
    prior.rule = "threshold"
    ctx = Context.of([40.0, 40.0], [-100.0, -70.0], [np.nan, np.nan])
    out = prior.apply(np.full((2, 2), 0.5), ctx, ["a", "b"])
    assert out.expected_nearby is not None and out.score is not None
    assert out.expected_nearby.tolist() == [[True, False], [False, True]]
    assert out.score[0, 0] > 0.5 > out.score[0, 1]
