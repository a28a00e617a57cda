"""Per-taxon "expected nearby" thresholds chosen as iNaturalist chooses them: the geo score
that maximises F1 between the taxon's presence cells and well-sampled absence cells (cells
with at least ``min_effort`` records of any taxon, none of this one) at H3 resolution 4.

To bound the work on big studies each taxon is calibrated on at most ``cap`` presence cells
and ``cap`` absence cells, drawn at random (seeded).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from fieldguide.priors.sparse import SparseCounts

ScoreFn = Callable[[NDArray[np.uint64], NDArray[np.int64]], NDArray[np.float64]]


def calibrate(table: SparseCounts, n_taxa: int, score: ScoreFn, *, min_effort: int = 5,
              cap: int = 200, seed: int = 0) -> NDArray[np.float32]:
    """Thresholds for every taxon from a resolution-4 count table and a pairwise scorer
    ``score(cells, taxa)``. A taxon without presence cells gets 1 (never expected by score);
    one without any well-sampled absence cell gets its lowest presence score."""
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
        absent = table.pairs(neg_rows, neg_taxa) == 0
        neg_rows, neg_taxa = neg_rows[absent], neg_taxa[absent]
    else:
        neg_rows = neg_taxa = np.zeros(0, dtype=np.int64)
    rows = np.concatenate([pos_rows, neg_rows])
    who = np.concatenate([pos_taxa, neg_taxa])
    label = np.concatenate([np.ones(len(pos_rows), bool), np.zeros(len(neg_rows), bool)])
    values = score(table.keys[rows].astype(np.uint64), who)
    return best_f1(who, values, label, n_taxa)


def best_f1(taxa: NDArray[np.int64], score: NDArray[np.float64], label: NDArray[np.bool_],
            n_taxa: int) -> NDArray[np.float32]:
    """Per taxon, the score threshold (predict present when score >= it) maximising F1."""
    out = np.ones(n_taxa, dtype=np.float32)
    if len(taxa) == 0:
        return out
    order = np.lexsort((-score, taxa))
    t, s, y = taxa[order], score[order], label[order].astype(np.int64)
    start = np.searchsorted(t, t)                       # first entry of each taxon's run
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
