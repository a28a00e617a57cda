"""Scoring only each photo's top classes (PlaceSeasonPrior.apply with more than TOP_K
classes) against scoring every class: the pair evaluation equals the dense block, decisions
are identical and the combined probabilities move by no more than the documented bound, on a
real prior of 4,386 flowering-plant species (PhenoBase herbarium specimens)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from fieldguide.priors import Context, Observations, read_csv
from fieldguide.priors.counts import CountsPrior, build_counts
from fieldguide.priors.kernels import top_classes
from fieldguide.priors.prior import MASS, TOP_K, PlaceSeasonPrior, clean_context


@pytest.fixture(scope="module")
def herbarium(shared_data: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[CountsPrior, Observations]:
    source = shared_data / "observations" / "phenobase_herbarium_phenology" / "all_traits.csv"
    with source.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    path = tmp_path_factory.mktemp("herbarium") / "records.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["taxon", "latitude", "longitude", "observed_on"])
        for r in rows:
            point = json.loads(r["geopoint"]) if r["geopoint"] else {}
            w.writerow([r["scientificname"], point.get("lat", ""), point.get("lon", ""),
                        r["eventdate"]])
    names = sorted({r["scientificname"] for r in rows if r["scientificname"]})
    obs, _ = read_csv(path, names)
    return build_counts(obs), obs


def contexts(obs: Observations, n: int, seed: int) -> Context:
    """Records' own places and days, some without a place, a day, or either."""
    rng = np.random.default_rng(seed)
    at = rng.integers(0, len(obs), n)
    lat, lon, doy = obs.lat[at].copy(), obs.lon[at].copy(), obs.doy[at].copy()
    lat[::7] = np.nan
    doy[::5] = np.nan
    return clean_context(Context(lat, lon, doy))


def test_pairs_equal_the_dense_block(herbarium: tuple[CountsPrior, Observations]) -> None:
    prior, obs = herbarium
    ctx = contexts(obs, 300, 0)
    rng = np.random.default_rng(1)
    cols = rng.permutation(len(prior.names))[:500].astype(np.int64)
    prob, score, used = prior.evaluate(ctx, cols)
    photo = np.repeat(np.arange(len(ctx)), 40)
    which = rng.integers(0, len(cols), len(photo))
    pprob, pscore, pused = prior.evaluate_pairs(ctx, photo, cols[which])
    assert np.array_equal(pused, used)
    ok = used[photo]
    assert np.allclose(pprob[ok], prob[photo, which][ok], rtol=1e-5, atol=0)
    assert np.allclose(pscore[ok], score[photo, which][ok], rtol=1e-5, atol=1e-7)
    # the default for other methods (SINR): the dense block over the pairs' taxa, gathered
    dprob, dscore, dused = PlaceSeasonPrior.evaluate_pairs(prior, ctx, photo, cols[which])
    assert np.array_equal(dused, used)
    assert np.array_equal(dprob[ok], prob[photo, which][ok])
    assert np.array_equal(dscore[ok], score[photo, which][ok])


def test_top_classes_keep_the_decisions(herbarium: tuple[CountsPrior, Observations]) -> None:
    prior, obs = herbarium
    n, k = 2_000, len(prior.names)
    ctx = contexts(obs, n, 2)
    rng = np.random.default_rng(3)
    # a trained model's output: a few plausible species per photo, a long thin tail
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n)[:, None], rng.integers(0, k, (n, 5))] += rng.uniform(7, 14, (n, 5))
    vision = np.exp(logits - logits.max(axis=1, keepdims=True))
    vision /= vision.sum(axis=1, keepdims=True)
    assert k > TOP_K
    fast = prior.apply(vision, ctx, prior.names)
    prior.top_k = None
    try:
        full = prior.apply(vision, ctx, prior.names)
    finally:
        prior.top_k = TOP_K
    assert fast.score is not None and full.score is not None
    assert fast.expected_nearby is not None and full.expected_nearby is not None
    start, pos = top_classes(vision, np.ones(k, dtype=bool), TOP_K, prior.floor, MASS)
    scored = np.diff(start)
    capped = scored == TOP_K               # the guarantee holds where the cap is not reached
    assert capped.mean() < 0.5
    photo = np.repeat(np.arange(n), scored)
    unscored = vision.sum(axis=1) - np.bincount(photo, vision[photo, pos], minlength=n)
    top = full.probs.argmax(axis=1)
    rows = np.arange(n)
    assert np.array_equal(fast.probs.argmax(axis=1)[~capped], top[~capped])
    assert (fast.probs.argmax(axis=1) == top).mean() > 0.99
    assert np.array_equal(fast.expected_nearby[rows, top], full.expected_nearby[rows, top])
    assert np.allclose(fast.score[rows, top], full.score[rows, top], rtol=1e-5,
                       equal_nan=True)
    # each probability moves by at most twice the unscored vision mass over the combined
    # total, which is at least floor x the top vision probability
    diff = np.abs(fast.probs - full.probs).max(axis=1)
    assert (diff <= 2 * unscored / (prior.floor * vision.max(axis=1)) + 1e-9).all()
    print(f"{scored.mean():.1f} classes scored per photo ({capped.mean():.1%} capped), "
          f"max |difference| {diff.max():.2e}, median {np.median(diff):.2e}")


def test_bayes_scores_every_class(herbarium: tuple[CountsPrior, Observations]) -> None:
    prior, obs = herbarium
    ctx = contexts(obs, 50, 4)
    vision = np.random.default_rng(5).dirichlet(np.full(len(prior.names), 0.05), 50)
    prior.combine = "bayes"
    try:
        fast = prior.apply(vision, ctx, prior.names)
        prior.top_k = None
        full = prior.apply(vision, ctx, prior.names)
    finally:
        prior.combine, prior.top_k = "inat", TOP_K
    assert np.array_equal(fast.probs, full.probs)


def test_presence_bits_match_the_dense_formulation(
        herbarium: tuple[CountsPrior, Observations]) -> None:
    """The radius rule's bitsets, set per table entry, against packing the dense block."""
    prior, _ = herbarium
    cols = np.random.default_rng(6).permutation(len(prior.names))[:1000].astype(np.int64)
    dated, anytime = prior._presence_bits(cols)
    words = (len(cols) + 63) // 64
    colmap = np.full(len(prior.names), -1, dtype=np.int64)
    colmap[cols] = np.arange(len(cols))
    season, n_cells = prior.season[0], len(prior.place[0].keys)
    grid = np.zeros((n_cells * prior.bins, words), dtype=np.uint64)
    rows = np.arange(len(season.keys))
    present = season.dense(rows, colmap, words * 64) > 0
    grid[season.keys] = np.packbits(present, axis=1, bitorder="little").view(np.uint64)
    assert np.array_equal(anytime, np.bitwise_or.reduce(
        grid.reshape(n_cells, prior.bins, words), axis=1))
    assert dated.any()
