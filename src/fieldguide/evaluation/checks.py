"""Input checks shared by the evaluation functions: bad arrays fail early with the field named,
so a training run that writes malformed outputs is told what is wrong instead of getting
silently wrong metrics."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fieldguide.errors import InputError

#: Rows of a probability matrix may deviate this much from 1 (float32 softmax drift is ~1e-6).
SUM_TOLERANCE = 1e-3


def check_probs(probs: np.ndarray, field: str = "probs") -> np.ndarray:
    """Return ``probs`` as a float (n, K) array (float32 kept, to spare memory at thousands of
    classes) after checking it is finite, non-negative and that every row sums to 1 within
    :data:`SUM_TOLERANCE`."""
    arr = np.asarray(probs)
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"expected a non-empty (n, K) array, got shape {arr.shape}", field=field)
    if not np.all(np.isfinite(arr)):
        raise InputError("contains NaN or infinite values", field=field)
    if np.any(arr < 0):
        raise InputError("contains negative probabilities", field=field)
    sums = arr.sum(axis=1, dtype=np.float64)
    bad = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
    if bad.size:
        raise InputError(
            f"{bad.size} rows do not sum to 1 (row {int(bad[0])} sums to {sums[bad[0]]:.6g}); "
            "pass softmax probabilities, not logits",
            field=field,
        )
    return arr


def check_labels(y_true: np.ndarray, n: int, n_classes: int, field: str = "y_true") -> np.ndarray:
    """Return ``y_true`` as int64 after checking its length and that each label is a class
    index in ``[0, n_classes)``."""
    arr = np.asarray(y_true)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise InputError(f"expected shape ({n},), got {arr.shape}", field=field)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise InputError(f"expected integer class indices, got dtype {arr.dtype}", field=field)
    arr = arr.astype(np.int64)
    out = np.flatnonzero((arr < 0) | (arr >= n_classes))
    if out.size:
        raise InputError(
            f"{out.size} labels outside 0..{n_classes - 1} (first: {int(arr[out[0]])} at "
            f"position {int(out[0])})",
            field=field,
        )
    return arr


def check_names(names: Sequence[str], n_classes: int, field: str) -> list[str]:
    """Return ``names`` as a list of strings of length ``n_classes``."""
    if len(names) != n_classes:
        raise InputError(f"expected {n_classes} entries, one per class, got {len(names)}",
                         field=field)
    return [str(x) for x in names]


def check_counts(counts: np.ndarray, n_classes: int, field: str = "train_counts") -> np.ndarray:
    """Return training counts per class as int64 after checking length and sign."""
    arr = np.asarray(counts)
    if arr.shape != (n_classes,):
        raise InputError(f"expected shape ({n_classes},), got {arr.shape}", field=field)
    if arr.dtype.kind not in "iuf" or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise InputError("expected non-negative counts", field=field)
    return arr.astype(np.int64)
