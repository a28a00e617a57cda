"""Class-size statistics shared by the study summary and the dataset reports (iNat2017 Table 2).

Pure functions of a small table of (taxon, super-class, photos, observations) rows, so they are
easy to test by hand; the SQL that builds such a table lives with the callers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# iNaturalist's iconic taxa: the super-classes of the iNat2017 tables when a lineage has one.
ICONIC_TAXA = (
    "Aves",
    "Amphibia",
    "Reptilia",
    "Mammalia",
    "Actinopterygii",
    "Mollusca",
    "Arachnida",
    "Insecta",
    "Plantae",
    "Fungi",
    "Chromista",
    "Protozoa",
    "Animalia",
)


@dataclass(frozen=True)
class ClassCount:
    """One class (taxon) of a collection: how much material it has, and its super-class."""

    taxon: str
    superclass: str
    photos: int
    observations: int


@dataclass(frozen=True)
class SuperclassRow:
    superclass: str
    classes: int
    observations: int
    photos: int


def imbalance_ratio(counts: Sequence[int]) -> float:
    """Largest class over smallest non-empty class (1.0 = balanced; inf if a class is empty)."""
    sizes = list(counts)
    if not sizes:
        return float("nan")
    smallest = min(sizes)
    return float("inf") if smallest == 0 else max(sizes) / smallest


def superclass_table(classes: Sequence[ClassCount]) -> list[SuperclassRow]:
    """Per super-class totals, largest first by photos, as in iNat2017's Table 2."""
    totals: dict[str, list[int]] = {}
    for c in classes:
        row = totals.setdefault(c.superclass, [0, 0, 0])
        row[0] += 1
        row[1] += c.observations
        row[2] += c.photos
    rows = [SuperclassRow(name, *values) for name, values in totals.items()]
    return sorted(rows, key=lambda r: (-r.photos, r.superclass))


def histogram_bins(values: Sequence[int], edges: Sequence[int]) -> list[tuple[str, int]]:
    """Counts of values per bin ``[edges[i], edges[i+1])``, the last bin open-ended."""
    out = []
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else None
        n = sum(1 for v in values if v >= low and (high is None or v < high))
        label = (
            f"{low}" if high == low + 1 else (f"{low}+" if high is None else f"{low}-{high - 1}")
        )
        out.append((label, n))
    return out
