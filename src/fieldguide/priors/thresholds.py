"""Per-taxon "expected nearby" thresholds chosen as iNaturalist chooses them: the geo score
that maximises F1 between the taxon's presence cells and well-sampled absence cells (cells
with at least ``min_effort`` records of any taxon, none of this one) at H3 resolution 4.

To bound the work on big studies each taxon is calibrated on at most ``cap`` presence cells
and ``cap`` absence cells, drawn at random (seeded). The per-taxon loops are compiled
(:mod:`fieldguide.priors.kernels`); they give exactly the thresholds of the NumPy formulation
they replaced (tests/priors/test_threshold_kernels.py keeps it as the reference).
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
    from fieldguide.compiled import group_positions
    from fieldguide.priors.kernels import first_per_taxon

    rng = np.random.default_rng(seed)
    entry_row = np.repeat(np.arange(len(table.keys), dtype=np.int64), np.diff(table.ptr))
    taxa = table.col.astype(np.int64)
    # each taxon's presence cells in a random order (ties: table order), the first ``cap``
    width = max(n_taxa, int(taxa.max()) + 1 if len(taxa) else 0)
    keep = first_per_taxon(taxa, rng.random(len(taxa)), width, cap)
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
    # scored in cell order (the scorer's table lookups then run forwards), kept in pair order
    _, by_cell = group_positions(rows, len(table.keys))
    values = np.empty(len(rows), dtype=np.float64)
    values[by_cell] = score(table.keys[rows[by_cell]].astype(np.uint64), who[by_cell])
    return best_f1(who, values, label, n_taxa)


def best_f1(taxa: NDArray[np.int64], score: NDArray[np.float64], label: NDArray[np.bool_],
            n_taxa: int) -> NDArray[np.float32]:
    """Per taxon, the score threshold (predict present when score >= it) maximising F1: the
    score where F1 first peaks, walking each taxon's pairs from the highest score down (equal
    scores in the order given); 1 for a taxon without presence pairs."""
    from fieldguide.priors.kernels import best_f1_thresholds

    out = np.ones(n_taxa, dtype=np.float32)
    best_f1_thresholds(np.asarray(taxa, dtype=np.int64), np.asarray(score, dtype=np.float64),
                       np.asarray(label, dtype=np.uint8), out)
    return out
