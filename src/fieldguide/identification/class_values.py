"""A prior's per-class values for a batch, answered where asked instead of held as a photos x
classes block (``PriorOutput.score`` and ``expected_nearby`` with many classes).

At 10,000 photos x 10,000 classes a dense score (float64) and nearby flag (bool) are 0.9 GB
written per batch, of which every consumer reads a handful per photo: the top class's
(``annotate.columns``), the answered classes' (the service), the decided taxon's classes
(``require_nearby``), the detected classes' (sound). A :class:`ClassValues` answers those
reads with NumPy's indexing, so a consumer indexes it as it indexes an array:

- ``v[rows, cols]``: the values at pairs (ints, integer arrays or boolean masks, broadcast
  together as NumPy's advanced indexing does);
- ``v[rows]``: the block of those rows (integer array, boolean mask or slice), still lazy;
- :meth:`dense`: the whole block (small batches, tests).

A prior provides the values of its own rows (:meth:`ClassValues._values`);
:func:`fieldguide.identification.posterior.posterior` places a prior's rows among the
batch's (:meth:`ClassValues.spread`), giving the rows the prior never saw a fill value.
"""

from __future__ import annotations

import copy
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray


class ClassValues:
    """A lazy (rows, classes) block (see module doc). ``_rows`` maps each row to the row the
    values were computed for (-1: ``fill``, a row placed by :meth:`spread`)."""

    def __init__(self, n_rows: int, n_classes: int, dtype: type[np.generic],
                 fill: Any) -> None:
        self._rows: NDArray[np.int64] = np.arange(n_rows, dtype=np.int64)
        self.n_classes = n_classes
        self.dtype = np.dtype(dtype)
        self.fill = fill

    @property
    def shape(self) -> tuple[int, int]:
        return len(self._rows), self.n_classes

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: Any) -> Any:
        """Values at (row, class) pairs for a pair of indices, else a block of rows."""
        if not isinstance(index, tuple):
            if isinstance(index, slice) or np.ndim(index) > 0:
                return self.take(index)
            index = (index, np.arange(self.n_classes))   # one row: its values, as NumPy
        if len(index) != 2:
            raise IndexError(f"{len(index)} indices for a 2-dimensional block")
        rows, cols = (_positions(i, n, axis) for axis, (i, n) in enumerate(
            zip(index, self.shape, strict=True)))
        rows, cols = np.broadcast_arrays(rows, cols)
        inner = self._rows[rows.ravel()]
        out = np.full(inner.shape, self.fill, dtype=self.dtype)
        ok = inner >= 0
        if ok.any():
            out[ok] = self._values(inner[ok], cols.ravel()[ok])
        return out.reshape(rows.shape)[()]

    def take(self, rows: Any) -> Self:
        """The block of ``rows`` (integer array, boolean mask or slice), still lazy."""
        out = copy.copy(self)
        out._rows = self._rows[rows]
        return out

    def spread(self, rows: NDArray[np.int64], n: int, fill: Any) -> Self:
        """This block as rows ``rows`` of a block of ``n`` rows whose other rows hold
        ``fill`` everywhere (a block that has no filled rows yet)."""
        if (self._rows < 0).any():
            raise ValueError("this block was spread already")
        out = copy.copy(self)
        out._rows = np.full(n, -1, dtype=np.int64)
        out._rows[rows] = self._rows
        out.fill = fill
        return out

    def dense(self) -> NDArray[Any]:
        """The whole (rows, classes) block as an array."""
        n, k = self.shape
        out: NDArray[Any] = self[np.arange(n)[:, None], np.arange(k)[None, :]]
        return out

    def _values(self, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> NDArray[Any]:
        """The values at pairs (the prior's own rows, classes): what a subclass provides."""
        raise NotImplementedError


def _positions(index: Any, n: int, axis: int) -> NDArray[np.int64]:
    """NumPy's meaning of one index along an axis of length ``n``, as positions."""
    if isinstance(index, slice):
        raise IndexError("a slice beside another index: index rows first (v[rows][i, j])")
    at = np.asarray(index)
    if at.dtype == bool:
        if at.shape != (n,):
            raise IndexError(f"boolean index of shape {at.shape} for axis {axis} of {n}")
        return np.flatnonzero(at)
    if not np.issubdtype(at.dtype, np.integer):
        raise IndexError(f"index of type {at.dtype} (integers or a boolean mask)")
    at = at.astype(np.int64)
    if ((at < -n) | (at >= n)).any():
        raise IndexError(f"index out of range for axis {axis} of {n}")
    return np.where(at < 0, at + n, at)
