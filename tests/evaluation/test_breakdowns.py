"""Super-class table, training-count bins, taxa-included curve and folded confusion, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fieldguide.evaluation import breakdowns as bd
from fieldguide.evaluation import evaluate


def test_superclass_table_averages_over_species() -> None:
    rows = bd.superclass_table(["A", "A", "A", "B"], np.array([4, 1, 0, 5]),
                               np.array([2, 1, 0, 1]), np.array([4, 1, 0, 3]),
                               np.array([10, 20, 0, 100]))
    a, b = rows
    # A: class 2 has no test image; top-1 = mean(2/4, 1/1), image-level = 3/5
    assert a == {"superclass": "A", "n_classes": 3, "n_test_images": 5, "top1": 0.75,
                 "top5": 1.0, "image_top1": 0.6, "avg_train": 10.0}
    assert (b["top1"], b["top5"], b["image_top1"], b["avg_train"]) == pytest.approx(
        (0.2, 0.6, 0.2, 100.0))


def test_train_count_bins() -> None:
    rows = bd.train_count_bins(np.array([0, 5, 15, 25, 1500]), np.array([1, 2, 2, 4, 3]),
                               np.array([0, 1, 2, 1, 3]))
    assert [r["bin"] for r in rows] == ["0", "1-9", "10-19", "20-49", "50-99", "100-999",
                                        "1000+"]
    assert [r["n_classes"] for r in rows] == [1, 1, 1, 1, 0, 0, 1]
    assert [r["accuracy"] for r in rows] == [0.0, 0.5, 1.0, 0.25, None, None, 1.0]
    assert rows[3]["class_accuracies"] == [0.25]


def test_train_count_bins_skip_zero_bin_when_no_class_lacks_images() -> None:
    rows = bd.train_count_bins(np.array([3, 12]), np.array([1, 1]), np.array([1, 0]))
    assert rows[0]["bin"] == "1-9"


def test_taxa_included_curve() -> None:
    # classes by training images: 1 (50, no test image), 2 (30), 0 (10)
    curve = bd.taxa_included_curve(np.array([10, 50, 30]), np.array([2, 0, 4]),
                                   np.array([2, 0, 1]))
    assert curve["class_order"] == [1, 2, 0]
    assert curve["train_count"] == [50, 30, 10]
    assert curve["share_train"] == pytest.approx([50 / 90, 80 / 90, 1.0])
    assert curve["accuracy"] == [None, 0.25, 0.5]  # (0 + 1) / 4, then (1 + 2) / 6
    assert curve["average_recall"] == [None, 0.25, 0.625]  # mean(1/4, 2/2)


def test_group_confusion_and_most_confused() -> None:
    cm = np.array([[1, 1, 0], [0, 1, 3], [0, 2, 1]])
    rows, cols = np.nonzero(cm)
    cells = np.stack([rows, cols, cm[rows, cols]], axis=1)
    folded, names = bd.group_confusion(cells, ["P", "A", "P"])
    assert names == ["A", "P"]
    # A = {1}, P = {0, 2}: A->A 1, A->P 0+3, P->A 1+2, P->P 1+0+0+1
    assert folded.tolist() == [[1, 3], [3, 2]]
    assert bd.most_confused(cells, 5) == [(1, 2, 3), (2, 1, 2), (0, 1, 1)]
    assert bd.most_confused(cells, 1) == [(1, 2, 3)]


def test_evaluate_fills_the_breakdowns(hand: tuple[np.ndarray, np.ndarray, list[str]]) -> None:
    probs, y, names = hand
    r = evaluate(probs, y, names, train_counts=np.array([100, 5, 30]),
                 superclass=["Plantae", "Aves", "Plantae"])
    assert r.superclass_table is not None and r.taxa_curve is not None
    assert [row["avg_train"] for row in r.superclass_table] == [5.0, 65.0]
    assert r.taxa_curve["class_order"] == [0, 2, 1]
    assert r.taxa_curve["accuracy"][-1] == pytest.approx(r.top1)
    assert r.taxa_curve["average_recall"][-1] == pytest.approx(r.average_recall)
