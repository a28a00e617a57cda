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

F = TypeVar("F", bound=Callable[..., Any])


def jit(fn: F, **options: Any) -> F:
    """``fn`` compiled by numba, cached on disk where a cache directory is writable."""
    try:
        return numba.njit(cache=True, error_model="numpy", **options)(  # type: ignore[no-any-return]
            fn)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(error_model="numpy", **options)(fn)  # type: ignore[no-any-return]
