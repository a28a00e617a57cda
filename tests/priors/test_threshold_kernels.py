"""The compiled threshold calibration (priors/kernels.py) against the NumPy formulation it
replaced, kept here as the reference: thresholds, pair lookups and F1 picks must be exactly
equal, ties included, on real exports and on synthetic studies."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from fieldguide.ingest import ingest_gbif_csv, ingest_inat_csv
from fieldguide.priors import Observations, read_csv, read_study
from fieldguide.priors.cells import day_bins, latlng_cells, parent_cells, valid_coordinates
from fieldguide.priors.counts import CountsPrior, build_counts
from fieldguide.priors.sparse import SparseCounts
from fieldguide.priors.thresholds import best_f1, calibrate
from fieldguide.store import Study

ScoreFn = Callable[[NDArray[np.uint64], NDArray[np.int64]], NDArray[np.float64]]


# -- the NumPy reference (the code before the kernels) -------------------------------------
def ref_build(keys: NDArray[np.int64], cols: NDArray[np.int64], n_cols: int) -> SparseCounts:
    row_keys, row = np.unique(keys, return_inverse=True)
    pair, count = np.unique(row.astype(np.int64) * n_cols + cols, return_counts=True)
    rows = pair // n_cols
    ptr = np.zeros(len(row_keys) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(row_keys)), out=ptr[1:])
    total = np.bincount(row, minlength=len(row_keys)).astype(np.float32)
    return SparseCounts(row_keys.astype(np.int64), total, ptr,
                        (pair % n_cols).astype(np.int32), count.astype(np.float32))


def ref_tables(obs: Observations, bins: int = 24) -> dict[str, NDArray[Any]]:
    located = valid_coordinates(obs.lat, obs.lon)
    rows = np.flatnonzero(located)
    taxon = obs.taxon[rows]
    grp = obs.group[taxon]
    fine = latlng_cells(obs.lat[rows], obs.lon[rows], 4)
    day = day_bins(obs.doy, bins)[rows]
    out: dict[str, NDArray[Any]] = {}
    for r in (2, 3, 4):
        keys = parent_cells(fine, r).astype(np.int64)
        place = ref_build(keys, taxon, len(obs.names))
        out.update(place.arrays(f"place{r}"))
        has = grp >= 0
        out.update(ref_build(keys[has], grp[has], max(len(obs.group_names), 1))
                   .arrays(f"group{r}"))
        when = day >= 0
        skey = place.rows(keys[when]) * bins + day[when]
        out.update(ref_build(skey, taxon[when], len(obs.names)).arrays(f"season{r}"))
    return out


def ref_pairs(table: SparseCounts, rows: NDArray[np.int64],
              cols: NDArray[np.int64]) -> NDArray[np.float32]:
    out = np.zeros(len(rows), dtype=np.float32)
    if len(table.col) == 0:
        return out
    n_cols = np.int64(int(table.col.max()) + 1)
    ok = np.flatnonzero((rows >= 0) & (cols >= 0) & (cols < n_cols))
    entry_row = np.repeat(np.arange(len(table.keys), dtype=np.int64), np.diff(table.ptr))
    flat = entry_row * n_cols + table.col
    query = rows[ok] * n_cols + cols[ok]
    at = np.minimum(np.searchsorted(flat, query), len(flat) - 1)
    hit = flat[at] == query
    out[ok[hit]] = table.count[at[hit]]
    return out


def ref_best_f1(taxa: NDArray[np.int64], score: NDArray[np.float64],
                label: NDArray[np.bool_], n_taxa: int) -> NDArray[np.float32]:
    out = np.ones(n_taxa, dtype=np.float32)
    if len(taxa) == 0:
        return out
    order = np.lexsort((-score, taxa))
    t, s, y = taxa[order], score[order], label[order].astype(np.int64)
    start = np.searchsorted(t, t)
    tp = np.cumsum(y)
    fp = np.cumsum(1 - y)
    before_tp = np.where(start > 0, tp[start - 1], 0)
    before_fp = np.where(start > 0, fp[start - 1], 0)
    tp, fp = tp - before_tp, fp - before_fp
    positives = np.bincount(t, weights=y, minlength=n_taxa)[t]
    f1 = np.where(positives > 0, 2 * tp / np.maximum(tp + fp + positives, 1), 0.0)
    best = np.lexsort((-f1, t))
    firsts = best[np.searchsorted(t[best], np.unique(t))]
    has_pos = positives[firsts] > 0
    out[t[firsts[has_pos]]] = s[firsts[has_pos]]
    return out


def ref_calibrate(table: SparseCounts, n_taxa: int, score: ScoreFn, *, min_effort: int = 5,
                  cap: int = 200, seed: int = 0) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    entry_row = np.repeat(np.arange(len(table.keys), dtype=np.int64), np.diff(table.ptr))
    taxa = table.col.astype(np.int64)
    order = np.lexsort((rng.random(len(taxa)), taxa))
    first = np.searchsorted(taxa[order], taxa[order])
    keep = order[np.arange(len(order)) - first < cap]
    pos_rows, pos_taxa = entry_row[keep], taxa[keep]
    well = np.flatnonzero(table.total >= min_effort)
    have = np.unique(pos_taxa)
    if len(well):
        neg_taxa = np.repeat(have, cap)
        neg_rows = well[rng.integers(len(well), size=len(neg_taxa))]
        absent = ref_pairs(table, neg_rows, neg_taxa) == 0
        neg_rows, neg_taxa = neg_rows[absent], neg_taxa[absent]
    else:
        neg_rows = neg_taxa = np.zeros(0, dtype=np.int64)
    rows = np.concatenate([pos_rows, neg_rows])
    who = np.concatenate([pos_taxa, neg_taxa])
    label = np.concatenate([np.ones(len(pos_rows), bool), np.zeros(len(neg_rows), bool)])
    return ref_best_f1(who, score(table.keys[rows].astype(np.uint64), who), label, n_taxa)


def ref_pair_scores(prior: CountsPrior) -> ScoreFn:
    def score(cells: NDArray[np.uint64], taxa: NDArray[np.int64]) -> NDArray[np.float64]:
        p0 = prior.frequency(taxa)
        g, gq, share, tau = prior._group_terms(taxa)
        p: NDArray[np.floating[Any]] = p0.copy()
        q: NDArray[np.floating[Any]] = gq.copy()
        for res, table, gtable in zip(prior.resolutions, prior.place, prior.group_place,
                                      strict=True):
            keys = parent_cells(cells, res).astype(np.int64)
            r = table.rows(keys)
            p, q = prior._descend(p, q, ref_pairs(table, r, taxa),
                                  ref_pairs(gtable, gtable.rows(keys), g),
                                  table.totals(r).astype(np.float64), tau, share)
        lift = p / np.maximum(p0, 1e-300)
        return np.asarray(lift / (1 + lift), dtype=np.float64)
    return score


# -- the comparisons -----------------------------------------------------------------------
def same_thresholds(obs: Observations, **options: int) -> None:
    prior = build_counts(obs, min_effort=options.get("min_effort", 5))
    for name, want in ref_tables(obs).items():
        got = prior.arrays[name]
        assert got.dtype == want.dtype and np.array_equal(got, want), name
    for cap in (3, 200):
        want = ref_calibrate(prior.place[-1], len(obs.names), ref_pair_scores(prior), cap=cap,
                             min_effort=options.get("min_effort", 5))
        got = calibrate(prior.place[-1], len(obs.names), prior.pair_scores, cap=cap,
                        min_effort=options.get("min_effort", 5))
        assert np.array_equal(got, want)
    assert np.array_equal(prior.thresholds, ref_calibrate(
        prior.place[-1], len(obs.names), ref_pair_scores(prior),
        min_effort=options.get("min_effort", 5)))
    assert (prior.thresholds < 1).any()


def test_same_thresholds_on_real_exports(shared_data: Path, tmp_path: Path) -> None:
    d = shared_data / "observations"
    with Study(tmp_path / "s") as s:
        for name in ("inat_rudbeckia_hirta.csv", "inat_maianthemum_canadense.csv"):
            ingest_inat_csv(s, d / "inat_flowering_taylor2019" / name)
        lf = d / "spotted_lanternfly_gbif_inat"
        ingest_gbif_csv(s, lf / "cleaned_occurrence_df.csv", multimedia=lf / "multimedia.txt")
        obs = read_study(s)
    same_thresholds(obs)
    same_thresholds(obs, min_effort=1)


def test_same_thresholds_on_herbarium_species(shared_data: Path, tmp_path: Path) -> None:
    """PhenoBase: 4,386 species, most with a handful of specimens (many ties in F1)."""
    source = shared_data / "observations" / "phenobase_herbarium_phenology" / "all_traits.csv"
    with source.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    path = tmp_path / "herbarium.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["taxon", "latitude", "longitude", "observed_on"])
        for r in rows:
            point = json.loads(r["geopoint"]) if r["geopoint"] else {}
            w.writerow([r["scientificname"], point.get("lat", ""), point.get("lon", ""),
                        r["eventdate"]])
    names = sorted({r["scientificname"] for r in rows if r["scientificname"]})
    obs, _ = read_csv(path, names)
    same_thresholds(obs)
    same_thresholds(obs, min_effort=2)


@pytest.mark.parametrize("seed", [0, 1])
def test_same_thresholds_on_synthetic_studies(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, n_taxa = 20_000, 300
    taxon = np.minimum(rng.zipf(1.5, n) - 1, n_taxa - 1).astype(np.int64)
    # coarse coordinates: many records share cells, so scores tie
    lat = np.round(rng.uniform(30, 50, n) * 2) / 2
    lon = np.round(rng.uniform(-120, -70, n) * 2) / 2
    doy = rng.integers(1, 367, n).astype(np.float64)
    group = rng.integers(-1, 20, n_taxa).astype(np.int64)
    obs = Observations(taxon, lat, lon, doy, np.arange(n), [f"t{i}" for i in range(n_taxa)],
                       group, [f"g{i}" for i in range(20)], "species")
    same_thresholds(obs)


def test_pairs_and_best_f1_match_the_reference() -> None:
    rng = np.random.default_rng(3)
    keys, cols = rng.integers(0, 50, 5_000), rng.integers(0, 40, 5_000)
    table = SparseCounts.build(keys, cols, 40)
    for name, want in ref_build(keys, cols, 40).arrays("t").items():
        got = table.arrays("t")[name]
        assert got.dtype == want.dtype and np.array_equal(got, want), name
    rows = rng.integers(-1, len(table.keys), 20_000)
    cols = rng.integers(-1, 45, 20_000)
    assert np.array_equal(table.pairs(rows, cols), ref_pairs(table, rows, cols))
    empty = SparseCounts.build(np.zeros(0, np.int64), np.zeros(0, np.int64), 3)
    assert np.array_equal(empty.pairs(rows[:5] * 0 - 1, cols[:5]), np.zeros(5, np.float32))
    taxa = rng.integers(0, 30, 3_000)
    score = np.round(rng.uniform(0, 1, 3_000), 1)   # heavy ties
    label = rng.random(3_000) < 0.3
    assert np.array_equal(best_f1(taxa, score, label, 32), ref_best_f1(taxa, score, label, 32))
    assert np.array_equal(best_f1(taxa[:0], score[:0], label[:0], 4), np.ones(4, np.float32))
