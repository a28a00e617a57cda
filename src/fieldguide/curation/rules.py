"""The curation rules as pure functions of small inputs, tested exhaustively.

The SQL in ``steps.py`` and ``splits.py`` applies the same rules at scale; tests check that both
give the same answer on small studies. Ties are broken by :func:`tie_key`, which DuckDB's
``md5(seed || ':' || key)`` reproduces exactly.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def tie_key(seed: int, key: str) -> str:
    """A seeded, reproducible pseudo-random order for ids (same as SQL ``md5(seed||':'||k)``)."""
    return hashlib.md5(f"{seed}:{key}".encode()).hexdigest()


@dataclass(frozen=True)
class ObserverCount:
    """One observer of one taxon: how many observations and photos they contributed."""

    observer: str
    observations: int
    photos: int


def inat2017_split(
    observers: Sequence[ObserverCount],
    *,
    seed: int = 0,
    test_observers: float = 0.4,
    val_max_photos: int = 30,
    val_fraction: float = 0.33,
) -> dict[str, str]:
    """Seed 003 section 3.2 for one taxon: observer -> 'train' | 'val' | 'test'.

    Observers sorted by observations, fewest first (ties: seeded), the first
    ``floor(test_observers * n)`` go to test. The rest, in the same order, go to validation
    while it holds at most ``val_max_photos`` photos and at most ``val_fraction`` of the
    train-val photos; the rest is train. One guard the paper's >= 20 observers never needs:
    the last train-val observer stays in train, so every taxon has training photos.
    """
    ordered = sorted(observers, key=lambda o: (o.observations, tie_key(seed, o.observer)))
    n_test = math.floor(test_observers * len(ordered))
    out = {o.observer: "test" for o in ordered[:n_test]}
    rest = ordered[n_test:]
    total = sum(o.photos for o in rest)
    held = 0
    for i, o in enumerate(rest):
        full = held > val_max_photos or held > val_fraction * total
        if full or i == len(rest) - 1:
            out[o.observer] = "train"
        else:
            out[o.observer] = "val"
            held += o.photos
    return out


def stratified_counts(n: int, val: float, test: float) -> tuple[int, int, int]:
    """(train, val, test) sizes of one taxon's n units: rounded shares, train keeps >= 1."""
    n_test = math.floor(n * test + 0.5)
    n_val = math.floor(n * val + 0.5)
    if n > 0 and n_test + n_val >= n:
        n_val = max(0, min(n_val, n - 1 - n_test))
        n_test = min(n_test, n - 1 - n_val)
    return n - n_val - n_test, n_val, n_test


def temporal_quotas(
    counts: Mapping[int, int],
    *,
    cutoff_year: int,
    later_fraction: float,
    last_year: int | None = None,
    cap_last_year: bool = True,
) -> dict[int, int]:
    """Seed 000's de-biasing: how many to keep per year.

    Years before ``cutoff_year`` keep everything; later years keep ``round(later_fraction *
    n)``; the latest year (``last_year``, default the newest in ``counts``) is capped at what
    the year before it (the nearest earlier year present) kept.
    """
    if not counts:
        return {}
    last = max(counts) if last_year is None else last_year
    quotas: dict[int, int] = {}
    previous: int | None = None
    for year in sorted(counts):
        n = counts[year]
        if year < cutoff_year:
            q = n
        else:
            q = min(n, math.floor(later_fraction * n + 0.5))
            if cap_last_year and year == last and previous is not None:
                q = min(n, previous)
        quotas[year] = q
        previous = q
    return quotas


PRESENT, ABSENT, UNKNOWN = "1", "0", "U"
#: The stored traits the phenology stages are derived from (ImageAnt / Taylor 2019 scoring).
PHENOLOGY_TRAITS = ("open_flowers", "flower_buds", "fruits")
#: Each derived trait and the stored traits it reads: a study needs labels for one of them.
DERIVED_TRAITS: dict[str, tuple[str, ...]] = {
    "phenology2": ("open_flowers",),
    "phenology4": PHENOLOGY_TRAITS,
}


def phenology2(open_flowers: str | None) -> str | None:
    """Two stages (seed 000): 'flowering' with >= 1 open flower, else 'not_flowering';
    None when uncertain or not annotated (such images are left out, as in the paper)."""
    if open_flowers == PRESENT:
        return "flowering"
    if open_flowers == ABSENT:
        return "not_flowering"
    return None


def phenology4(
    open_flowers: str | None, buds: str | None, fruits: str | None = None
) -> str | None:
    """Four stages (seed 000): the latest stage present wins (fruiting > flowering > budding >
    vegetative). Walking from the latest stage: present decides; uncertain ('U') gives None,
    because a later stage cannot be excluded; absent or not asked ('0', None) moves on. With
    nothing annotated at all the label is None; with every asked stage absent, vegetative."""
    if open_flowers is None and buds is None and fruits is None:
        return None
    for value, stage in ((fruits, "fruiting"), (open_flowers, "flowering"), (buds, "budding")):
        if value == PRESENT:
            return stage
        if value is not None and value != ABSENT:
            return None
    return "vegetative"
