"""A synthetic study for the prior: two look-alike species of one genus living apart in
place and season, plus two common species everywhere, and a simulated vision model that
cannot tell the look-alikes apart well. Used by tests and ``bench/prior.py``.

Regions (North America, 35..45 N): west of 100 W only *Lookalikea vernalis*, east of 80 W
only *Lookalikea autumnalis*, in between both, *vernalis* in spring (days 60..150) and
*autumnalis* in autumn (days 220..310). *Commonia* species are everywhere all year.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from fieldguide.store import Study

LOOKALIKES = ("Lookalikea vernalis", "Lookalikea autumnalis")
COMMON = ("Commonia vulgaris", "Commonia ubiquita")
CLASSES = LOOKALIKES + COMMON


def make_lookalike_study(study: Study, *, observations: int = 6000, observers: int = 400,
                         seed: int = 0) -> None:
    """Fill an empty study (see module doc); each observer keeps to one region."""
    rng = np.random.default_rng(seed)
    taxa = [(1, "Plantae", "kingdom", 70.0, None), (2, "Lookalikeaceae", "family", 30.0, 1),
            (3, "Lookalikea", "genus", 20.0, 2), (4, "Commonia", "genus", 20.0, 2)]
    taxa += [(10 + i, name, "species", 10.0, 3 if name in LOOKALIKES else 4)
             for i, name in enumerate(CLASSES)]
    region_of_observer = rng.integers(0, 3, observers)
    observer = rng.integers(0, observers, observations)
    region = region_of_observer[observer]
    lon = np.select([region == 0, region == 1], [rng.uniform(-120, -100, observations),
                                                 rng.uniform(-100, -80, observations)],
                    rng.uniform(-80, -70, observations))
    lat = rng.uniform(35, 45, observations)
    common = rng.random(observations) < 0.5
    spring = rng.random(observations) < 0.5
    lookalike = np.select([region == 0, region == 2], [0, 1], np.where(spring, 0, 1))
    species = np.where(common, 2 + rng.integers(0, 2, observations), lookalike)
    doy = np.where(common, rng.integers(1, 366, observations),
                   np.where((region == 1) & spring, rng.integers(60, 151, observations),
                            np.where(region == 1, rng.integers(220, 311, observations),
                                     rng.integers(60, 311, observations))))
    dates = np.datetime64("2021-01-01") + (doy - 1).astype("timedelta64[D]")
    table = pa.table({
        "observation_id": [f"s{i}" for i in range(observations)],
        "observer": [f"u{o}" for o in observer],
        "observed_on": pa.array(dates.astype("datetime64[D]")),
        "latitude": lat, "longitude": lon, "taxon_id": (10 + species).astype(np.int64),
    })
    with study.transaction() as con:
        con.executemany("INSERT INTO taxa (taxon_id, name, rank, rank_level, parent_id, "
                        "source) VALUES (?, ?, ?, ?, ?, 'synthetic')", taxa)
        con.register("synthetic_obs", table)
        con.execute("""INSERT INTO observations (observation_id, source, observer, observed_on,
                                                 latitude, longitude, taxon_id, quality_grade)
                       SELECT observation_id, 'synthetic', observer, observed_on, latitude,
                              longitude, taxon_id, 'research' FROM synthetic_obs""")
        con.unregister("synthetic_obs")


def lookalike_vision(truth: NDArray[np.int64], *, separation: float = 0.5,
                     seed: int = 0) -> NDArray[np.float64]:
    """Vision probabilities over CLASSES for photos of taxon ``truth`` (indices into
    CLASSES): the look-alikes' logits differ by ``separation`` on average (unit noise), the
    common species are told apart easily."""
    rng = np.random.default_rng(seed)
    n = len(truth)
    logits = rng.normal(0, 1, (n, len(CLASSES)))
    logits[:, 2:] -= 3.0
    logits[np.arange(n), truth] += separation + np.where(truth >= 2, 4.0, 0.0)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


def lookalike_accuracy(study: Study, *, separation: float = 0.5,
                       seed: int = 0) -> dict[str, float]:
    """Top-1 on held-out observers of the look-alike study: vision alone, vision + place
    (dates hidden), vision + place and season (the counts prior fitted on the other
    observers). The figures behind docs/benchmarks.md's vision / + place / + season row."""
    from fieldguide.identification.posterior import Context
    from fieldguide.priors import fit_prior, read_study, split_by_observer

    obs = read_study(study)
    train, test = split_by_observer(obs, seed=seed)
    prior = fit_prior(obs.take(train))
    t = obs.take(test)
    truth = np.array([CLASSES.index(obs.names[k]) for k in t.taxon])
    vision = lookalike_vision(truth, separation=separation, seed=seed)
    no_day = np.full(len(t), np.nan)
    placed = prior.apply(vision, Context(t.lat, t.lon, no_day), list(CLASSES)).probs
    seasoned = prior.apply(vision, Context(t.lat, t.lon, t.doy), list(CLASSES)).probs
    return {"photos": float(len(t)), "vision": float((vision.argmax(1) == truth).mean()),
            "place": float((placed.argmax(1) == truth).mean()),
            "place and season": float((seasoned.argmax(1) == truth).mean())}
