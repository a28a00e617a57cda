"""A sparse count table: rows keyed by an integer (a cell, or a cell and a day window), one
column per taxon, stored as compressed rows so a batch of photos gathers its rows at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class SparseCounts:
    keys: NDArray[np.int64]      # sorted row keys
    total: NDArray[np.float32]   # all records in the row (every taxon)
    ptr: NDArray[np.int64]       # row r's entries are ptr[r]:ptr[r + 1]
    col: NDArray[np.int32]       # taxon of each entry, ascending within a row
    count: NDArray[np.float32]

    @classmethod
    def build(cls, keys: NDArray[np.int64], cols: NDArray[np.int64],
              n_cols: int) -> SparseCounts:
        """Count records per (key, column)."""
        row_keys, row = np.unique(keys, return_inverse=True)
        return cls.from_rows(row_keys, row, cols)

    @classmethod
    def from_rows(cls, row_keys: NDArray[np.int64], rows: NDArray[np.int64],
                  cols: NDArray[np.int64]) -> SparseCounts:
        """Count records per (row, column), the rows already numbered: record i is in row
        ``rows[i]``, whose key is ``row_keys[rows[i]]`` (sorted keys, every row used). A
        counting sort (priors/kernels.py), linear in the records: no sort of all of them."""
        from fieldguide.priors.kernels import count_rows

        ptr, col, count, total = count_rows(np.asarray(rows, dtype=np.int64),
                                            np.asarray(cols, dtype=np.int64), len(row_keys))
        return cls(np.asarray(row_keys, dtype=np.int64), total.astype(np.float32), ptr,
                   col.astype(np.int32), count.astype(np.float32))

    def arrays(self, prefix: str) -> dict[str, NDArray[np.generic]]:
        return {f"{prefix}.{name}": getattr(self, name)
                for name in ("keys", "total", "ptr", "col", "count")}

    @classmethod
    def from_arrays(cls, arrays: dict[str, NDArray[np.generic]], prefix: str) -> SparseCounts:
        got = [arrays[f"{prefix}.{name}"] for name in ("keys", "total", "ptr", "col", "count")]
        return cls(got[0].astype(np.int64), got[1].astype(np.float32),
                   got[2].astype(np.int64), got[3].astype(np.int32), got[4].astype(np.float32))

    def rows(self, keys: NDArray[np.int64]) -> NDArray[np.int64]:
        """Row index of each key, -1 where the table has no such row."""
        if len(self.keys) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(self.keys[at] == keys, at, -1).astype(np.int64)

    def totals(self, rows: NDArray[np.int64]) -> NDArray[np.float32]:
        return np.where(rows >= 0, self.total[np.maximum(rows, 0)], np.float32(0))

    def dense(self, rows: NDArray[np.int64], colmap: NDArray[np.int64],
              n_out: int) -> NDArray[np.float32]:
        """(len(rows), n_out) counts; ``colmap[taxon]`` is the output column (-1: not wanted)."""
        out = np.zeros((len(rows), n_out), dtype=np.float32)
        ok = np.flatnonzero(rows >= 0)
        if len(ok) == 0:
            return out
        start, stop = self.ptr[rows[ok]], self.ptr[rows[ok] + 1]
        lengths = stop - start
        owner = np.repeat(ok, lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        entry = np.repeat(start, lengths) + offsets
        target = colmap[self.col[entry]]
        keep = target >= 0
        out[owner[keep], target[keep]] = self.count[entry[keep]]
        return out

    def pairs(self, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> NDArray[np.float32]:
        """Count at each (row, column) pair (0 where absent or either index is negative):
        a binary search inside each pair's row, compiled (priors/kernels.py)."""
        from fieldguide.priors.kernels import pair_counts

        out = np.zeros(len(rows), dtype=np.float32)
        pair_counts(self.ptr, self.col, self.count, np.asarray(rows, dtype=np.int64),
                    np.asarray(cols, dtype=np.int64), out)
        return out
