"""Places and seasons as integer keys: H3 (v4) cells and day-of-year bins.

h3 indexes one point per call, so each point is indexed once, at the finest resolution, and
its coarser cells are derived with bit operations on the whole array (an H3 index stores its
resolution in bits 52-55 and one 3-bit digit per resolution below; a parent sets the
resolution field and fills the finer digits with 7).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: no cell (a point with unknown or invalid coordinates)
NO_CELL = np.uint64(0)
_RES_SHIFT = np.uint64(52)
_RES_MASK = np.uint64(0xF) << _RES_SHIFT


def latlng_cells(lat: NDArray[np.float64], lon: NDArray[np.float64],
                 res: int) -> NDArray[np.uint64]:
    """The res-``res`` H3 cell of each point (NO_CELL where either coordinate is NaN)."""
    import h3.api.basic_int as h3

    out = np.zeros(len(lat), dtype=np.uint64)
    ok = np.flatnonzero(~(np.isnan(lat) | np.isnan(lon)))
    cell = h3.latlng_to_cell
    out[ok] = np.fromiter(
        (cell(a, b, res) for a, b in zip(lat[ok].tolist(), lon[ok].tolist(), strict=True)),
        dtype=np.uint64, count=len(ok))
    return out


def parent_cells(cells: NDArray[np.uint64], res: int) -> NDArray[np.uint64]:
    """The res-``res`` ancestor of each cell (cells must be at ``res`` or finer)."""
    finer = np.uint64((1 << (3 * (15 - res))) - 1)
    out = (cells & ~_RES_MASK) | (np.uint64(res) << _RES_SHIFT) | finer
    return np.where(cells == NO_CELL, NO_CELL, out)


def cell_centres(cells: NDArray[np.uint64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Latitude and longitude of each cell's centre."""
    import h3.api.basic_int as h3

    pts = np.array([h3.cell_to_latlng(int(c)) for c in cells.tolist()], dtype=np.float64)
    pts = pts.reshape(-1, 2)
    return pts[:, 0], pts[:, 1]


def day_bins(doy: NDArray[np.float64], bins: int) -> NDArray[np.int64]:
    """Day of year (1..366) to one of ``bins`` equal windows; -1 where the day is unknown."""
    out = np.full(len(doy), -1, dtype=np.int64)
    ok = ~np.isnan(doy)
    out[ok] = np.clip(((doy[ok] - 1) * bins // 366).astype(np.int64), 0, bins - 1)
    return out


def valid_coordinates(lat: NDArray[np.float64], lon: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Coordinates a prior may use: both present, in range, and not the (0, 0) "null island"
    that export tools write for a missing location."""
    with np.errstate(invalid="ignore"):
        ok = (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    return np.asarray(ok & ~((lat == 0) & (lon == 0)), dtype=bool)

