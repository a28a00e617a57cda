"""The ``sinr`` network's input encoding, shared by its training (torch) and its scorer
(NumPy): sin/cos of pi*lon/180 and pi*lat/90, and sin/cos of 2*pi*day/366 with (0, 0) for an
unknown day."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def features(lat: NDArray[np.float64], lon: NDArray[np.float64],
             doy: NDArray[np.float64] | None) -> NDArray[np.float32]:
    """Network input per point (doy None: a model without the season term)."""
    x, y = np.pi * lon / 180.0, np.pi * lat / 90.0
    cols = [np.sin(x), np.cos(x), np.sin(y), np.cos(y)]
    if doy is not None:
        known = ~np.isnan(doy)
        t = 2 * np.pi * np.where(known, doy, 0) / 366.0
        cols += [np.where(known, np.sin(t), 0.0), np.where(known, np.cos(t), 0.0)]
    return np.stack(cols, axis=1).astype(np.float32)
