from __future__ import annotations

import math

from fieldguide.curation.statistics import (
    ClassCount,
    SuperclassRow,
    histogram_bins,
    imbalance_ratio,
    superclass_table,
)


def test_imbalance_ratio_is_largest_over_smallest() -> None:
    assert imbalance_ratio([1000, 10, 250]) == 100.0
    assert imbalance_ratio([5, 5]) == 1.0
    assert imbalance_ratio([3, 0]) == math.inf
    assert math.isnan(imbalance_ratio([]))


def test_superclass_table_sums_classes_observations_photos() -> None:
    classes = [
        ClassCount("Alliaria petiolata", "Plantae", photos=12, observations=10),
        ClassCount("Rudbeckia hirta", "Plantae", photos=8, observations=8),
        ClassCount("Amblyomma americanum", "Arachnida", photos=30, observations=20),
    ]
    assert superclass_table(classes) == [
        SuperclassRow("Arachnida", classes=1, observations=20, photos=30),
        SuperclassRow("Plantae", classes=2, observations=18, photos=20),
    ]


def test_histogram_bins_with_an_open_last_bin() -> None:
    votes = [1, 1, 1, 2, 3, 5, 9, 12]
    assert histogram_bins(votes, [1, 2, 3, 5, 10]) == [
        ("1", 3), ("2", 1), ("3-4", 1), ("5-9", 2), ("10+", 1)]
