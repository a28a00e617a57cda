"""The ``counts`` prior: how often each taxon was recorded in H3 cells and day-of-year windows,
smoothed so that sparse cells, rare taxa and empty places still get sensible values.

For a place at resolution r (coarse to fine, default 2, 3, 4) the estimate is

    p_r(k | cell) = (n(cell, k) + alpha * base_r(k)) / (n(cell) + alpha)

where ``base_r`` mixes the coarser cell's estimate (smoothing across resolutions; the root is
the study's class frequency) with the taxon's group (its genus when the prior is at species)
in this cell times the taxon's share of the group (smoothing up the taxonomy, weight ``tau``).
The season estimate does the same for (cell, day window) counts, each window's counts mixed
with its neighbours' (1/4, 1/2, 1/4: smoothing across neighbouring days), backing off to half
the coarser cell's seasonal estimate and half the same cell's all-year estimate.

The score is the lift p(k | place, season) / p(k) mapped to [0, 1] as lift / (1 + lift): 0.5
where the place says nothing (no records near), towards 1 where the taxon is over-represented,
towards 0 in well-sampled cells without it. ``expected_nearby`` is iNaturalist's old rule by
default: a record within 1000 km (between H3 cell centres at the coarsest resolution) and
+/- 45 days (+/- 3 windows of 366/24 days); or the F1-optimal score threshold per taxon.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from fieldguide.errors import InputError
from fieldguide.identification.class_values import ClassValues
from fieldguide.identification.posterior import Context
from fieldguide.priors.cells import (
    cell_centres,
    day_bins,
    latlng_cells,
    parent_cells,
    valid_coordinates,
)
from fieldguide.priors.observations import Observations
from fieldguide.priors.prior import Combine, PlaceSeasonPrior
from fieldguide.priors.scored import RadiusNearby, ScoredPairs
from fieldguide.priors.sparse import SparseCounts
from fieldguide.priors.thresholds import calibrate

Nearby = Literal["radius", "threshold"]
Floats = NDArray[np.floating[Any]]
RADIUS_KM = 1000.0
EARTH_KM = 6371.0088  #: mean radius, as fieldguide.identification.decision.haversine_km
WINDOW_DAYS = 45.0
_KERNEL = ((-1, 0.25), (0, 0.5), (1, 0.25))


class CountsPrior(PlaceSeasonPrior):
    """A built counts prior (see module doc); make one with :func:`build_counts`."""

    def __init__(self, params: dict[str, Any], arrays: dict[str, NDArray[Any]],
                 names: list[str], *, combine: Combine = "inat",
                 nearby: Nearby | None = None) -> None:
        super().__init__(names, rank=str(params["rank"]), thresholds=arrays["thresholds"],
                         floor=float(params["floor"]), combine=combine)
        self.params = params
        self.arrays = arrays
        self.resolutions: list[int] = [int(r) for r in params["resolutions"]]
        self.bins = int(params["bins"])
        self.alpha = float(params["alpha"])
        self.alpha_season = float(params["alpha_season"])
        self.tau = float(params["tau"])
        self.rule: Nearby = nearby or params.get("nearby", "radius")
        self.taxon_count = arrays["taxon_count"].astype(np.float64)
        self.season_count = arrays["season_count"].astype(np.float64)
        self.group = arrays["group"].astype(np.int64)
        self.place = [SparseCounts.from_arrays(arrays, f"place{r}") for r in self.resolutions]
        self.group_place = [SparseCounts.from_arrays(arrays, f"group{r}")
                            for r in self.resolutions]
        self.season = [SparseCounts.from_arrays(arrays, f"season{r}") for r in self.resolutions]
        n_groups = int(self.group.max()) + 1 if len(self.group) and self.group.max() >= 0 else 0
        self.group_count = np.bincount(self.group[self.group >= 0],
                                       self.taxon_count[self.group >= 0], minlength=n_groups)
        self._centres: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
        self._bits: tuple[bytes, NDArray[np.uint64], NDArray[np.uint64]] | None = None
        self._reach_at: dict[int, int] = {}   #: coarse cell -> its row of _reach
        self._reach = np.zeros((0, self.bins + 1, 0), dtype=np.uint64)
        self._reach_lock = threading.Lock()
        self._seasonal: tuple[bytes, NDArray[np.float64]] | None = None
        self._season_all: NDArray[np.float64] | None = None

    @classmethod
    def fit(cls, obs: Observations, **options: Any) -> CountsPrior:
        """Count ``obs`` (options: those of :func:`build_counts`)."""
        return build_counts(obs, **options)

    @classmethod
    def restore(cls, params: dict[str, Any], arrays: dict[str, NDArray[Any]],
                names: list[str], *, combine: Combine = "inat",
                nearby: str | None = None) -> CountsPrior:
        if nearby not in (None, "radius", "threshold"):
            raise InputError(f"nearby must be 'radius' or 'threshold', not {nearby!r}",
                             field="nearby")
        return cls(params, arrays, names, combine=combine,
                   nearby=nearby)  # type: ignore[arg-type]

    # -- global terms ----------------------------------------------------------------------
    def frequency(self, cols: NDArray[np.int64]) -> NDArray[np.float64]:
        total = self.taxon_count.sum()
        p0 = (self.taxon_count + 1) / (total + len(self.taxon_count))
        return np.where(cols >= 0, p0[np.maximum(cols, 0)], 0.0)

    def _group_terms(self, cols: NDArray[np.int64]
                     ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64],
                                NDArray[np.float64]]:
        """Each column's group (-1: none), the group's frequency, the taxon's share of its
        group, and the taxonomy weight (0 where the taxon has no group)."""
        g = np.where(cols >= 0, self.group[np.maximum(cols, 0)], -1)
        n_groups = len(self.group_count)
        total = self.taxon_count.sum()
        q0 = (self.group_count + 1) / (total + max(n_groups, 1))
        has = g >= 0
        gq = np.where(has, q0[np.maximum(g, 0)] if n_groups else 0.0, 0.0)
        share = np.where(has, self.taxon_count[np.maximum(cols, 0)]
                         / np.maximum(self.group_count[np.maximum(g, 0)] if n_groups else 1, 1),
                         0.0)
        return g, gq, share, np.where(has, self.tau, 0.0)

    def _season_frequency(self, cols: NDArray[np.int64]) -> NDArray[np.float64]:
        """(bins, K) p(k | day window) over the whole study, smoothed to the class frequency."""
        smooth = sum(w * np.roll(self.season_count, -d, axis=0) for d, w in _KERNEL)
        assert isinstance(smooth, np.ndarray)
        p0 = self.frequency(np.arange(len(self.names), dtype=np.int64))
        ps = (smooth + self.alpha_season * p0) / (smooth.sum(axis=1, keepdims=True)
                                                  + self.alpha_season)
        return np.where(cols >= 0, ps[:, np.maximum(cols, 0)], 0.0)

    # -- scoring ---------------------------------------------------------------------------
    def evaluate(self, ctx: Context, cols: NDArray[np.int64], *, season: bool = True
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
        n, k = len(ctx), len(cols)
        p0 = self.frequency(cols)
        located = valid_coordinates(ctx.latitude, ctx.longitude)
        doy = ctx.day_of_year if season else np.full(n, np.nan)
        b = day_bins(doy, self.bins)
        dated = b >= 0
        prob = np.broadcast_to(p0, (n, k)).copy()
        colmap = np.full(len(self.names), -1, dtype=np.int64)
        colmap[cols[cols >= 0]] = np.flatnonzero(cols >= 0)
        g, gq, share, tau = self._group_terms(cols)
        gmap = np.full(len(self.group_count), -1, dtype=np.int64)
        used_groups = np.unique(g[g >= 0])
        gmap[used_groups] = np.arange(len(used_groups))
        g_col = (np.where(g >= 0, gmap[np.maximum(g, 0)], 0) if len(gmap)
                 else np.zeros(len(g), dtype=np.int64))  # a prior without groups
        rows = np.flatnonzero(located)
        per_res: list[Floats] = []
        place_rows: list[NDArray[np.int64]] = []
        if len(rows):
            fine = latlng_cells(ctx.latitude[rows], ctx.longitude[rows], self.resolutions[-1])
            # float32 blocks: half the memory traffic of the n x K arithmetic
            p: Floats = np.broadcast_to(p0, (len(rows), k)).astype(np.float32)
            q: Floats = np.broadcast_to(gq, (len(rows), k)).astype(np.float32)
            tau32, share32 = tau.astype(np.float32), share.astype(np.float32)
            for res, table, gtable in zip(self.resolutions, self.place, self.group_place,
                                          strict=True):
                keys = parent_cells(fine, res).astype(np.int64)
                r = table.rows(keys)
                nc = table.totals(r)[:, None]
                counts = table.dense(r, colmap, k)
                gcounts = gtable.dense(gtable.rows(keys), gmap, max(len(used_groups), 1))
                p, q = self._descend(p, q, counts, gcounts[:, g_col], nc, tau32, share32)
                per_res.append(p)
                place_rows.append(r)
            prob[rows] = p
        if dated.any():
            if self._seasonal is None or self._seasonal[0] != cols.tobytes():
                self._seasonal = (cols.tobytes(), self._season_frequency(cols))
            ps_all = self._seasonal[1]
            only_season = np.flatnonzero(dated & ~located)
            prob[only_season] = ps_all[b[only_season]]
            both = dated[rows]
            if both.any():
                ps: Floats = ps_all[b[rows[both]]].astype(np.float32)
                for j, table in enumerate(self.season):
                    r = place_rows[j][both]
                    counts = np.zeros((int(both.sum()), k), dtype=np.float32)
                    nc = np.zeros((int(both.sum()), 1), dtype=np.float32)
                    for d, w in _KERNEL:
                        key = np.where(r >= 0, r * self.bins + (b[rows[both]] + d) % self.bins,
                                       -1)
                        sr = table.rows(key)
                        counts += np.float32(w) * table.dense(sr, colmap, k)
                        nc[:, 0] += w * table.totals(sr)
                    base = np.float32(0.5) * (per_res[j][both] + ps)
                    ps = (counts + np.float32(self.alpha_season) * base) / (
                        nc + np.float32(self.alpha_season))
                prob[rows[both]] = ps
        lift = prob / np.maximum(p0, 1e-300)[None, :]
        score = np.where((cols >= 0)[None, :], lift / (1 + lift), 0.0)
        return prob, score, located | dated

    def evaluate_pairs(self, ctx: Context, photo: NDArray[np.int64], cols: NDArray[np.int64]
                       ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
        """:meth:`evaluate` for (photo, taxon) pairs: the same estimate, looked up per pair
        (float64 throughout) instead of as a photos x taxa block. Each photo's table rows
        are found here; the pairs are estimated by one compiled loop
        (:func:`fieldguide.priors.kernels.pair_estimate`, NumPy's operations in NumPy's
        order) instead of some forty NumPy passes over them."""
        from fieldguide.priors.kernels import pair_estimate

        n, n_res, windows = len(ctx), len(self.resolutions), len(_KERNEL)
        p0 = self.frequency(cols)
        located = valid_coordinates(ctx.latitude, ctx.longitude)
        b = day_bins(ctx.day_of_year, self.bins).astype(np.int64)
        dated = b >= 0
        g, gq, share, tau = self._group_terms(cols)
        place_row = np.full((n_res, n), -1, dtype=np.int64)
        group_row = np.full((n_res, n), -1, dtype=np.int64)
        season_row = np.full((n_res, windows, n), -1, dtype=np.int64)
        place_nc = np.zeros((n_res, n))
        season_nc = np.zeros((n_res, n))
        if located.any():
            fine = np.zeros(n, dtype=np.uint64)
            fine[located] = latlng_cells(ctx.latitude[located], ctx.longitude[located],
                                         self.resolutions[-1])
            for j, (res, table, gtable) in enumerate(zip(self.resolutions, self.place,
                                                         self.group_place, strict=True)):
                keys = np.where(located, parent_cells(fine, res).astype(np.int64), -1)
                r = place_row[j] = np.where(located, table.rows(keys), -1)
                group_row[j] = np.where(located, gtable.rows(keys), -1)
                place_nc[j] = table.totals(r)
                for d, (shift, w) in enumerate(_KERNEL):
                    key = np.where((r >= 0) & dated, r * self.bins + (b + shift) % self.bins,
                                   -1)
                    season_row[j, d] = self.season[j].rows(key)
                    season_nc[j] += w * self.season[j].totals(season_row[j, d])
        if dated.any() and self._season_all is None:
            self._season_all = self._season_frequency(np.arange(len(self.names), dtype=np.int64))
        ps_all = self._season_all if dated.any() else np.zeros((1, 1))
        prob, score = np.empty(len(photo)), np.empty(len(photo))
        pair_estimate(np.asarray(photo, dtype=np.int64), np.asarray(cols, dtype=np.int64), p0,
                      g, gq, share, tau, located, dated, b, *self._pair_tables(), place_row,
                      group_row, place_nc, season_row,
                      np.array([w for _, w in _KERNEL], dtype=np.float32), season_nc, ps_all,
                      self.alpha, self.alpha_season, prob, score)
        return prob, score, located | dated

    def _pair_tables(self) -> tuple[Any, Any, Any]:
        """The place, group and season tables as (ptr, col, count) tuples over the
        resolutions, as :func:`~fieldguide.priors.kernels.pair_estimate` takes them."""
        place, group, season = (
            (tuple(t.ptr for t in family), tuple(t.col for t in family),
             tuple(t.count for t in family))
            for family in (self.place, self.group_place, self.season))
        return place, group, season

    def _descend(self, p: Floats, q: Floats, counts: Floats, gcounts: Floats, nc: Floats,
                 tau: Floats, share: Floats) -> tuple[Floats, Floats]:
        """One resolution finer: the taxon's and its group's estimates in the finer cell
        (float32 blocks for a batch of photos, float64 pairs for the thresholds)."""
        inv = 1 / (nc + self.alpha)
        q = (gcounts + self.alpha * q) * inv
        base = (1 - tau) * p + tau * share * q
        return (counts + self.alpha * base) * inv, q

    def pair_scores(self, cells: NDArray[np.uint64], taxa: NDArray[np.int64]
                    ) -> NDArray[np.float64]:
        """All-year place score of taxon ``taxa[i]`` at finest-resolution cell ``cells[i]``
        (the thresholds' calibration: pairs, not a dense photos x taxa block)."""
        p0 = self.frequency(taxa)
        g, gq, share, tau = self._group_terms(taxa)
        p: Floats = p0.copy()
        q: Floats = gq.copy()
        # millions of pairs in a few thousand cells: look each cell's rows up once
        if len(cells) and bool((cells[1:] >= cells[:-1]).all()):  # calibrate's cell order
            new = np.empty(len(cells), dtype=bool)
            new[0], new[1:] = True, cells[1:] != cells[:-1]
            uniq, inverse = cells[new], np.cumsum(new) - 1
        else:
            uniq, inverse = np.unique(cells, return_inverse=True)
        for res, table, gtable in zip(self.resolutions, self.place, self.group_place,
                                      strict=True):
            keys = parent_cells(uniq, res).astype(np.int64)
            r = table.rows(keys)[inverse]
            gr = gtable.rows(keys)[inverse]
            p, q = self._descend(p, q, table.pairs(r, taxa), gtable.pairs(gr, g),
                                 table.totals(r).astype(np.float64), tau, share)
        lift = p / np.maximum(p0, 1e-300)
        return np.asarray(lift / (1 + lift), dtype=np.float64)

    def nearby(self, ctx: Context, cols: NDArray[np.int64],
               score: NDArray[np.float64]) -> NDArray[np.bool_]:
        if self.rule == "threshold":
            return super().nearby(ctx, cols, score)
        return self._radius_rule(ctx, cols)

    def expected_nearby(self, ctx: Context, cols: NDArray[np.int64], score: ScoredPairs,
                        located: NDArray[np.bool_]) -> ClassValues:
        if self.rule == "threshold":
            return super().expected_nearby(ctx, cols, score, located)
        cell = np.full(len(ctx), -1, dtype=np.int64)
        window = np.full(len(ctx), self.bins, dtype=np.int64)
        reach = self._reach
        if located.any():
            reach, cell[located], window[located] = self._reach_of(ctx.take(located), cols)
        return RadiusNearby(reach, cell, window, cols >= 0)

    def _radius_rule(self, ctx: Context, cols: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Recorded within RADIUS_KM and +/- WINDOW_DAYS (any day when the date is unknown):
        each photo's bitset (:meth:`_reach_of`) unpacked."""
        reach, cell, window = self._reach_of(ctx, cols)
        flags = np.unpackbits(reach[cell, window].view(np.uint8), axis=1, bitorder="little",
                              count=len(cols)).view(bool)   # 0/1 bytes: no copy
        return flags if (cols >= 0).all() else flags & (cols >= 0)[None, :]

    def _reach_of(self, ctx: Context, cols: NDArray[np.int64]
                  ) -> tuple[NDArray[np.uint64], NDArray[np.int64], NDArray[np.int64]]:
        """(reach, cell, window): the taxa recorded within RADIUS_KM of located photo i and
        +/- WINDOW_DAYS of its day are the bits of ``reach[cell[i], window[i]]`` (window
        ``bins``: any day). Each coarse cell a photo falls in gets its bitsets once per prior
        and class list (:meth:`_add_reach`); a batch then costs a lookup per distinct cell."""
        coarse = parent_cells(latlng_cells(ctx.latitude, ctx.longitude, self.resolutions[-1]),
                              self.resolutions[0])
        cells, inverse = np.unique(coarse, return_inverse=True)
        key = cols.tobytes()
        with self._reach_lock:   # the service decides batches on several threads
            if self._bits is None or self._bits[0] != key:
                self._bits = (key, *self._presence_bits(cols))
                self._reach_at = {}
                self._reach = np.zeros((0, self.bins + 1, self._bits[1].shape[2]),
                                       dtype=np.uint64)
            self._add_reach(cells[[int(c) not in self._reach_at for c in cells.tolist()]])
            at = np.array([self._reach_at[int(c)] for c in cells.tolist()], dtype=np.int64)
            reach = self._reach
        b = day_bins(ctx.day_of_year, self.bins)
        return reach, at[inverse], np.where(b >= 0, b, self.bins).astype(np.int64)

    def _add_reach(self, cells: NDArray[np.uint64]) -> None:
        """Add, per new coarse cell, (bins + 1, words) bitsets to the reach table: the taxa
        recorded in data cells within RADIUS_KM of its centre, per day window +/-
        WINDOW_DAYS, then any day. The table grows by doubling; a grown table is a new array,
        so blocks handed out earlier keep reading the rows they were given (callers hold
        ``_reach_lock``)."""
        from fieldguide.priors.kernels import reach_bits

        if len(cells) == 0:
            return
        assert self._bits is not None
        dated, anytime = self._bits[1], self._bits[2]
        used = len(self._reach_at)
        if used + len(cells) > len(self._reach):
            grown = np.empty((max(used + len(cells), 2 * len(self._reach)),
                              *self._reach.shape[1:]), dtype=np.uint64)
            grown[:used] = self._reach[:used]
            self._reach = grown
        if self._centres is None:
            self._centres = cell_centres(self.place[0].keys.astype(np.uint64))
        data = _unit_vectors(*self._centres)
        query = _unit_vectors(*cell_centres(cells))
        # within the radius <=> the centres' unit vectors' dot product >= cos(radius / R):
        # the great-circle test as one matrix product (haversine_km gives the same distances)
        least = np.cos(RADIUS_KM / EARTH_KM)
        for start in range(0, len(cells), 1024):
            part = query[start:start + 1024]
            asked, near = np.nonzero(part @ data.T >= least)   # by query cell, then data cell
            within = np.zeros(len(part) + 1, dtype=np.int64)
            np.cumsum(np.bincount(asked, minlength=len(part)), out=within[1:])
            reach_bits(dated, anytime, within, near.astype(np.int64), self._reach, used + start)
        for at, cell in enumerate(cells.tolist(), start=used):
            self._reach_at[int(cell)] = at

    def _presence_bits(self, cols: NDArray[np.int64]
                       ) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
        """Bitsets of the wanted taxa recorded per (coarse data cell, window +/- the day
        window), and per coarse data cell at any time of year."""
        from fieldguide.priors.kernels import presence_bits, window_bits

        k = len(cols)
        words = (k + 63) // 64
        colmap = np.full(len(self.names), -1, dtype=np.int64)
        colmap[cols[cols >= 0]] = np.flatnonzero(cols >= 0)
        season, n_cells = self.season[0], len(self.place[0].keys)
        grid = np.zeros((n_cells * self.bins, words), dtype=np.uint64)
        presence_bits(season.keys, season.ptr, season.col, colmap, grid)
        grid = grid.reshape(n_cells, self.bins, words)  # type: ignore[assignment]
        reach = int(np.ceil(WINDOW_DAYS / (366 / self.bins) - 1e-9))
        dated = np.empty_like(grid)
        anytime = np.empty((n_cells, words), dtype=np.uint64)
        window_bits(grid, reach, dated, anytime)
        return dated, anytime


def build_counts(obs: Observations, *, resolutions: tuple[int, ...] = (2, 3, 4),
                 bins: int = 24, alpha: float = 5.0, alpha_season: float = 5.0,
                 tau: float = 0.3, floor: float = 0.005, min_effort: int = 5,
                 seed: int = 0) -> CountsPrior:
    """Count ``obs`` per cell and window at each resolution (see module doc)."""
    res = sorted(set(resolutions))
    if not res or res[0] < 0 or res[-1] > 15:
        raise InputError("resolutions must be H3 resolutions 0..15", field="resolutions")
    located = valid_coordinates(obs.lat, obs.lon)
    if not located.any():
        raise InputError("no located observations: a place prior needs coordinates "
                         f"({len(obs)} records, none with usable latitude/longitude)")
    n_taxa = len(obs.names)
    b = day_bins(obs.doy, bins)
    arrays: dict[str, NDArray[Any]] = {
        "taxon_count": np.bincount(obs.taxon, minlength=n_taxa).astype(np.float32),
        "group": obs.group.astype(np.int64),
    }
    dated = b >= 0
    arrays["season_count"] = np.bincount(b[dated] * n_taxa + obs.taxon[dated],
                                         minlength=bins * n_taxa
                                         ).reshape(bins, n_taxa).astype(np.float32)
    rows = np.flatnonzero(located)
    taxon = obs.taxon[rows]
    grp = obs.group[taxon]
    # the records' cells sorted once; each table's rows are derived from the distinct cells
    cells, fine_row = np.unique(latlng_cells(obs.lat[rows], obs.lon[rows], res[-1]),
                                return_inverse=True)
    day = b[rows]
    has = grp >= 0
    when = day >= 0
    for r in res:
        keys, cell_row = np.unique(parent_cells(cells, r).astype(np.int64),
                                   return_inverse=True)
        row = cell_row[fine_row]
        arrays.update(SparseCounts.from_rows(keys, row, taxon).arrays(f"place{r}"))
        arrays.update(_sub_table(keys, row[has], grp[has]).arrays(f"group{r}"))
        skeys = np.arange(len(keys) * bins, dtype=np.int64)
        arrays.update(_sub_table(skeys, row[when] * bins + day[when], taxon[when])
                      .arrays(f"season{r}"))
    params: dict[str, Any] = {
        "method": "counts", "rank": obs.rank, "resolutions": res, "bins": bins,
        "alpha": alpha, "alpha_season": alpha_season, "tau": tau, "floor": floor,
        "nearby": "radius", "min_effort": min_effort, "radius_km": RADIUS_KM,
        "window_days": WINDOW_DAYS,
    }
    arrays["thresholds"] = np.zeros(n_taxa, dtype=np.float32)
    prior = CountsPrior(params, arrays, obs.names)
    arrays["thresholds"] = calibrate(prior.place[-1], n_taxa, prior.pair_scores,
                                     min_effort=min_effort, seed=seed)
    prior.thresholds = arrays["thresholds"]
    return prior


def _sub_table(keys: NDArray[np.int64], rows: NDArray[np.int64],
               cols: NDArray[np.int64]) -> SparseCounts:
    """The counts of records in rows ``rows`` (indices into ``keys``) keeping only the rows
    that have records, renumbered."""
    present = np.bincount(rows, minlength=len(keys)) > 0
    return SparseCounts.from_rows(keys[present], (np.cumsum(present) - 1)[rows], cols)


def _unit_vectors(lat: NDArray[np.float64], lon: NDArray[np.float64]) -> NDArray[np.float64]:
    """(n, 3) points on the unit sphere."""
    p, q = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(p) * np.cos(q), np.cos(p) * np.sin(q), np.sin(p)], axis=1)
