"""Compiling loops with numba, once per machine.

``jit`` is ``numba.njit(cache=True)``: compiled functions are cached on disk so a run does not
pay the compile time again; where no cache directory is writable they are compiled per
process instead. ``error_model="numpy"``: a division by zero gives inf or NaN, as in NumPy,
not an error. numba is imported by the modules that use ``jit``, never at package import, so
``--help`` stays instant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numba
import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


def jit(fn: F, **options: Any) -> F:
    """``fn`` compiled by numba, cached on disk where a cache directory is writable."""
    try:
        return numba.njit(cache=True, error_model="numpy", **options)(  # type: ignore[no-any-return]
            fn)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(error_model="numpy", **options)(fn)  # type: ignore[no-any-return]


@jit
def group_positions(values: Any, n_values: int) -> Any:
    """(start, index): the positions of value t (a taxon, a row, a worker: small integers
    0..n_values-1) are ``index[start[t]:start[t + 1]]``, in their original order (a stable
    counting sort, linear in the values: the grouping step of the compiled loops)."""
    start = np.zeros(n_values + 1, dtype=np.int64)
    for t in values:
        start[t + 1] += 1
    start = np.cumsum(start)
    fill = start[:-1].copy()
    index = np.empty(len(values), dtype=np.int64)
    for i in range(len(values)):
        index[fill[values[i]]] = i
        fill[values[i]] += 1
    return start, index
