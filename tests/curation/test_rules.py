from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from fieldguide.curation.rules import (
    ObserverCount,
    inat2017_split,
    phenology2,
    phenology4,
    stratified_counts,
    temporal_quotas,
)


def _count(split: dict[str, str]) -> dict[str, int]:
    return {s: sum(1 for v in split.values() if v == s) for s in ("train", "val", "test")}


def test_inat2017_worked_example_20_observers_of_one_photo() -> None:
    # Seed 003: 8 observers to test; of 12 train-val photos, 33% is 3.96, so validation
    # takes observers until it holds more than that (4); 8 remain for train.
    observers = [ObserverCount(f"u{i}", 1, 1) for i in range(20)]
    assert _count(inat2017_split(observers)) == {"train": 8, "val": 4, "test": 8}


def test_inat2017_test_takes_the_observers_with_fewest_observations() -> None:
    observers = [ObserverCount("big", 50, 50)] + [ObserverCount(f"u{i}", 1, 1) for i in range(9)]
    split = inat2017_split(observers)
    assert _count(split)["test"] == 4
    assert split["big"] == "train"  # most observations: sorted last, never test or val first


def test_inat2017_validation_stops_after_exceeding_30_photos() -> None:
    # 10 observers: 4 test; train-val = 6 observers of 20 photos (120 photos, 33% = 39.6).
    observers = [ObserverCount(f"u{i}", 1, 20) for i in range(10)]
    split = inat2017_split(observers)
    # val takes u.. until it holds > 30: 20, then 40 -> two observers.
    assert _count(split) == {"train": 4, "val": 2, "test": 4}


def test_inat2017_small_taxa_keep_training_photos() -> None:
    assert inat2017_split([ObserverCount("a", 1, 1)]) == {"a": "train"}
    assert _count(inat2017_split([ObserverCount("a", 1, 1), ObserverCount("b", 1, 1)])) == {
        "train": 1, "val": 1, "test": 0}
    three = inat2017_split([ObserverCount(x, 1, 1) for x in "abc"])
    assert _count(three) == {"train": 1, "val": 1, "test": 1}


observer_lists = st.lists(
    st.tuples(st.integers(1, 6), st.integers(1, 8)), min_size=1, max_size=60
).map(lambda xs: [ObserverCount(f"o{i}", n, n + extra) for i, (n, extra) in enumerate(xs)])


@settings(max_examples=200, deadline=None)
@given(observer_lists, st.integers(0, 5))
def test_inat2017_split_properties(observers: list[ObserverCount], seed: int) -> None:
    split = inat2017_split(observers, seed=seed)
    assert set(split) == {o.observer for o in observers}  # each observer in exactly one split
    assert split == inat2017_split(list(reversed(observers)), seed=seed)  # order-free, seeded
    counts = _count(split)
    assert counts["train"] >= 1
    assert counts["test"] == math.floor(0.4 * len(observers))
    tests = [o for o in observers if split[o.observer] == "test"]
    rest = [o for o in observers if split[o.observer] != "test"]
    if tests and rest:
        assert max(o.observations for o in tests) <= min(o.observations for o in rest)
    val_photos = sum(o.photos for o in rest if split[o.observer] == "val")
    largest = max((o.photos for o in rest), default=0)
    assert val_photos <= 30 + largest


def test_stratified_counts_80_20() -> None:
    assert stratified_counts(80, 0.0, 0.2) == (64, 0, 16)
    assert stratified_counts(10, 0.1, 0.2) == (7, 1, 2)
    assert stratified_counts(1, 0.0, 0.2) == (1, 0, 0)
    assert stratified_counts(2, 0.0, 0.5) == (1, 0, 1)
    assert stratified_counts(1, 0.5, 0.5) == (1, 0, 0)
    assert stratified_counts(0, 0.1, 0.2) == (0, 0, 0)
    for n in range(1, 50):
        train, val, test = stratified_counts(n, 0.2, 0.3)
        assert train >= 1 and train + val + test == n


def test_temporal_quotas_as_in_reeb_2022() -> None:
    counts = {2014: 10, 2016: 30, 2017: 100, 2018: 200, 2019: 400, 2020: 1000}
    q = temporal_quotas(counts, cutoff_year=2017, later_fraction=0.25)
    # before 2017 all; later years a quarter; 2020 capped at 2019's kept count (100).
    assert q == {2014: 10, 2016: 30, 2017: 25, 2018: 50, 2019: 100, 2020: 100}
    uncapped = temporal_quotas(counts, cutoff_year=2017, later_fraction=0.25, cap_last_year=False)
    assert uncapped[2020] == 250
    assert temporal_quotas({2020: 7}, cutoff_year=2017, later_fraction=0.5) == {2020: 4}
    assert temporal_quotas({}, cutoff_year=2017, later_fraction=0.5) == {}


def test_phenology_two_and_four_stages() -> None:
    assert phenology2("1") == "flowering"
    assert phenology2("0") == "not_flowering"
    assert phenology2("U") is None and phenology2(None) is None
    # The latest stage present wins.
    assert phenology4("1", "1", "1") == "fruiting"
    assert phenology4("1", "1") == "flowering"
    assert phenology4("0", "1") == "budding"
    assert phenology4("0", "0") == "vegetative"
    assert phenology4("0", "0", "0") == "vegetative"
    # Uncertain where a later stage could be: no label.
    assert phenology4("U", "1") is None
    assert phenology4("0", "1", "U") is None
    assert phenology4("1", "U") == "flowering"  # buds uncertain, but flowering is later
    assert phenology4(None, None, None) is None
