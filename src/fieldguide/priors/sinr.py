"""The ``sinr`` prior's scorer: a presence-only network (Cole et al. 2023, "Spatial Implicit
Neural Representations for Global-Scale Species Mapping") evaluated with NumPy, so
identification needs no torch. Training is in :mod:`fieldguide.priors.sinr_train`.

Input: sin/cos of pi*lon/180 and pi*lat/90, and (Mac Aodha et al. 2019) sin/cos of
2*pi*day/366, with (0, 0) for an unknown day: the network was trained with some days hidden,
so "no date" is an input it knows, not a guessed day. A residual MLP (256 units) ends in one
sigmoid per taxon: the score is that presence probability. The probability over taxa is the
scores renormalised over the wanted taxa. A photo without coordinates skips this prior.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from fieldguide.identification.posterior import Context
from fieldguide.priors.cells import valid_coordinates
from fieldguide.priors.prior import Combine, PlaceSeasonPrior
from fieldguide.priors.sinr_features import features

if TYPE_CHECKING:
    from fieldguide.priors.observations import Observations


class SinrPrior(PlaceSeasonPrior):
    """A trained SINR network's weights (see module doc)."""

    def __init__(self, params: dict[str, Any], arrays: dict[str, NDArray[Any]],
                 names: list[str], *, combine: Combine = "inat") -> None:
        super().__init__(names, rank=str(params["rank"]), thresholds=arrays["thresholds"],
                         floor=float(params["floor"]), combine=combine)
        self.params = params
        self.arrays = arrays
        self.season = bool(params["season"])
        self.blocks = int(params["blocks"])
        self.taxon_count = arrays["taxon_count"].astype(np.float64)

    @classmethod
    def fit(cls, obs: Observations, **options: Any) -> SinrPrior:
        """Train the network on ``obs`` (torch; options: those of
        :func:`fieldguide.priors.sinr_train.train_sinr`)."""
        from fieldguide.priors.cells import latlng_cells
        from fieldguide.priors.sinr_train import train_sinr
        from fieldguide.priors.sparse import SparseCounts
        from fieldguide.priors.thresholds import calibrate

        params, arrays = train_sinr(obs, **options)
        prior = cls(params, arrays, obs.names)
        # Thresholds calibrated on the training records' cells, as the counts prior's are.
        located = valid_coordinates(obs.lat, obs.lon)
        cells = latlng_cells(obs.lat[located], obs.lon[located], 4).astype(np.int64)
        table = SparseCounts.build(cells, obs.taxon[located], len(obs.names))
        arrays["thresholds"] = calibrate(table, len(obs.names), prior.pair_scores,
                                         min_effort=int(params["min_effort"]),
                                         seed=int(options.get("seed", 0)))
        prior.thresholds = arrays["thresholds"]
        return prior

    @classmethod
    def restore(cls, params: dict[str, Any], arrays: dict[str, NDArray[Any]],
                names: list[str], *, combine: Combine = "inat",
                nearby: str | None = None) -> SinrPrior:
        """``nearby`` is ignored: a SINR prior has one rule (its calibrated thresholds)."""
        return cls(params, arrays, names, combine=combine)

    def frequency(self, cols: NDArray[np.int64]) -> NDArray[np.float64]:
        p0 = (self.taxon_count + 1) / (self.taxon_count.sum() + len(self.taxon_count))
        return np.where(cols >= 0, p0[np.maximum(cols, 0)], 0.0)

    def presence(self, x: NDArray[np.float32], cols: NDArray[np.int64]) -> NDArray[np.float64]:
        """Sigmoid outputs (n, K) for network inputs ``x`` (0 for columns of -1)."""
        a = self.arrays
        h = np.maximum(x @ a["input.w"] + a["input.b"], 0)
        for i in range(self.blocks):
            y = np.maximum(h @ a[f"block{i}.w1"] + a[f"block{i}.b1"], 0)
            y = np.maximum(y @ a[f"block{i}.w2"] + a[f"block{i}.b2"], 0)
            h = h + y
        safe = np.maximum(cols, 0)
        logits = h @ a["head.w"][:, safe] + a["head.b"][safe]
        out = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
        return np.where((cols >= 0)[None, :], out, 0.0)

    def evaluate(self, ctx: Context, cols: NDArray[np.int64], *, season: bool = True
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
        n, k = len(ctx), len(cols)
        used = valid_coordinates(ctx.latitude, ctx.longitude)
        score = np.zeros((n, k))
        rows = np.flatnonzero(used)
        if len(rows):
            doy = ctx.day_of_year[rows] if season else np.full(len(rows), np.nan)
            x = features(ctx.latitude[rows], ctx.longitude[rows], doy if self.season else None)
            score[rows] = self.presence(x, cols)
        prob = score / np.maximum(score.sum(axis=1, keepdims=True), 1e-300)
        return prob, score, used

    def pair_scores(self, cells: NDArray[np.uint64], taxa: NDArray[np.int64]
                    ) -> NDArray[np.float64]:
        """All-year score of ``taxa[i]`` at the centre of ``cells[i]`` (threshold calibration)."""
        from fieldguide.priors.cells import cell_centres

        unique, inverse = np.unique(cells, return_inverse=True)
        lat, lon = cell_centres(unique)
        out = np.zeros(len(cells))
        x = features(lat, lon, np.full(len(unique), np.nan) if self.season else None)
        for start in range(0, len(unique), 2048):
            part = slice(start, start + 2048)
            mine = np.flatnonzero((inverse >= start) & (inverse < start + 2048))
            if len(mine) == 0:
                continue
            scores = self.presence(x[part], np.arange(len(self.names), dtype=np.int64))
            out[mine] = scores[inverse[mine] - start, taxa[mine]]
        return out
