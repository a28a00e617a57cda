"""A place-and-season prior's score and expected-nearby flags for a batch scored by its top
classes (:meth:`fieldguide.priors.prior.PlaceSeasonPrior.apply` with more than ``TOP_K``
classes), as :class:`~fieldguide.identification.class_values.ClassValues`: the values a
consumer asks for, with the same values the dense blocks held, without writing the blocks.

- :class:`ScoredPairs`: the score of each scored (photo, class) pair, NaN elsewhere;
- :class:`ThresholdNearby`: score >= the class's threshold (never for an unscored class);
- :class:`RadiusNearby`: the counts prior's radius rule, defined for every class, read from
  the bitsets of the taxa recorded within the radius of the photo's coarse cell.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from fieldguide.identification.class_values import ClassValues


class ScoredPairs(ClassValues):
    """Photo i's scores for classes ``pos[start[i]:start[i + 1]]`` are
    ``values[start[i]:start[i + 1]]``; every other (photo, class) has none (NaN)."""

    def __init__(self, start: NDArray[np.int64], pos: NDArray[np.int64],
                 values: NDArray[np.float64], n_classes: int) -> None:
        super().__init__(len(start) - 1, n_classes, np.float64, np.nan)
        self.start, self.pos, self.values = start, pos, values

    def _values(self, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> NDArray[Any]:
        from fieldguide.priors.kernels import pair_values

        out = np.full(len(rows), np.nan)
        pair_values(self.start, self.pos, self.values, rows, cols, out)
        return out


class ThresholdNearby(ClassValues):
    """Expected nearby: a ``located`` photo whose score for the class is at least the class's
    ``threshold`` (+inf for a class the prior does not know)."""

    def __init__(self, score: ScoredPairs, threshold: NDArray[np.floating[Any]],
                 located: NDArray[np.bool_]) -> None:
        super().__init__(len(located), score.n_classes, np.bool_, False)
        self.score, self.threshold, self.located = score, threshold, located

    def _values(self, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> NDArray[Any]:
        with np.errstate(invalid="ignore"):
            near: NDArray[np.bool_] = self.score._values(rows, cols) >= self.threshold[cols]
        return near & self.located[rows]


class RadiusNearby(ClassValues):
    """Expected nearby by the radius rule: bit ``c`` (bit c % 64 of word c // 64) of
    ``reach[cell[i], window[i]]`` for photo i, a known class c, and a photo with a place
    (``cell`` -1: none; ``window``: its day window, or the last, any day of the year)."""

    def __init__(self, reach: NDArray[np.uint64], cell: NDArray[np.int64],
                 window: NDArray[np.int64], known: NDArray[np.bool_]) -> None:
        super().__init__(len(cell), len(known), np.bool_, False)
        self.reach, self.cell, self.window, self.known = reach, cell, window, known

    def _values(self, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> NDArray[Any]:
        out = np.zeros(len(rows), dtype=bool)
        ask = np.flatnonzero((self.cell[rows] >= 0) & self.known[cols])
        r, c = rows[ask], cols[ask]
        words = self.reach[self.cell[r], self.window[r], c >> 6]
        out[ask] = (words >> (c & 63).astype(np.uint64)) & np.uint64(1) == 1
        return out
