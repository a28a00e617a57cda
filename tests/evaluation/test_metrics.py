"""Every metric against a case worked out by hand (see conftest.HAND_PROBS)."""

from __future__ import annotations

import numpy as np
import pytest

from fieldguide.evaluation import evaluate
from fieldguide.evaluation import metrics as m
from tests.evaluation.conftest import HAND_PROBS, HAND_Y

PRED = np.array([0, 1, 1, 2, 2, 1])


def test_prediction_and_ranks_break_ties_by_lower_index() -> None:
    assert m.predict(HAND_PROBS).tolist() == PRED.tolist()
    assert m.true_class_rank(HAND_PROBS, HAND_Y).tolist() == [0, 1, 0, 2, 0, 1]
    tie = np.array([[0.5, 0.5, 0.0]])
    assert m.top_k_accuracy(tie, np.array([1]), 1) == 0.0
    assert m.top_k_accuracy(tie, np.array([1]), 2) == 1.0


def test_top_k_accuracy() -> None:
    assert m.top_k_accuracy(HAND_PROBS, HAND_Y, 1) == pytest.approx(3 / 6)
    assert m.top_k_accuracy(HAND_PROBS, HAND_Y, 2) == pytest.approx(5 / 6)
    assert m.top_k_accuracy(HAND_PROBS, HAND_Y, 5) == 1.0


def test_ranking_in_blocks_matches_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(7), 50)
    y = rng.integers(0, 7, 50)
    whole = m.true_class_rank(p, y)
    monkeypatch.setattr(m, "_BLOCK_CELLS", 10)
    assert np.array_equal(m.true_class_rank(p, y), whole)


def test_confusion_matrix() -> None:
    cm = m.confusion_matrix(HAND_Y, PRED, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 1], [0, 1, 1]]
    cells = m.sparse_confusion(HAND_Y, PRED, 3)
    assert cells.tolist() == [[0, 0, 1], [0, 1, 1], [1, 1, 1], [1, 2, 1], [2, 1, 1], [2, 2, 1]]


def test_precision_recall_f1_support() -> None:
    precision, recall, f1, support = m.per_class_scores(HAND_Y, PRED, 3)
    # predicted counts 1, 3, 2 with one true positive each; two test images per class
    assert precision.tolist() == pytest.approx([1.0, 1 / 3, 1 / 2])
    assert recall.tolist() == pytest.approx([0.5, 0.5, 0.5])
    assert f1.tolist() == pytest.approx([2 / 3, 2 / 5, 1 / 2])
    assert support.tolist() == [2, 2, 2]


def test_never_predicted_and_absent_classes() -> None:
    y, pred = np.array([0, 0, 1]), np.array([0, 1, 1])
    precision, recall, f1, support = m.per_class_scores(y, pred, 3)
    assert precision[2] == 0.0 and np.isnan(recall[2]) and np.isnan(f1[2])
    assert support.tolist() == [2, 1, 0]
    # class 2 has no test image, so the mean is over classes 0 and 1 only: (1/2 + 1) / 2
    assert m.average_recall(y, pred, 3) == pytest.approx(0.75)


def test_average_recall_weighs_classes_equally() -> None:
    y = np.array([0] * 8 + [1] * 2)
    pred = np.zeros(10, dtype=np.int64)
    assert m.average_recall(y, pred, 2) == pytest.approx(0.5)  # accuracy would be 0.8


def test_calibration_bins_ece_mce() -> None:
    conf = HAND_PROBS.max(axis=1)
    correct = PRED == HAND_Y
    rows = m.calibration_bins(conf, correct, n_bins=4)
    # (.25,.5]: .5 wrong, .4 wrong; (.5,.75]: .7 right, .6 right, .6 wrong; (.75,1]: .8 right
    assert [r["count"] for r in rows] == [0, 2, 3, 1]
    assert rows[1]["confidence"] == pytest.approx(0.45) and rows[1]["accuracy"] == 0.0
    assert rows[2]["confidence"] == pytest.approx(1.9 / 3)
    assert rows[2]["accuracy"] == pytest.approx(2 / 3)
    # ECE = (2 * .45 + 3 * (2/3 - 1.9/3) + 1 * .2) / 6 = 1.2 / 6
    assert m.expected_calibration_error(conf, correct, 4) == pytest.approx(0.2)
    assert m.max_calibration_error(conf, correct, 4) == pytest.approx(0.45)


def test_confidence_of_zero_and_one_fall_in_the_end_bins() -> None:
    rows = m.calibration_bins(np.array([0.0, 1.0]), np.array([False, True]), 15)
    assert rows[0]["count"] == 1 and rows[-1]["count"] == 1


def test_evaluate_collects_the_hand_numbers(hand: tuple[np.ndarray, np.ndarray, list[str]]
                                           ) -> None:
    probs, y, names = hand
    r = evaluate(probs, y, names, calibration_bins=4)
    assert (r.n_samples, r.n_classes) == (6, 3)
    assert r.top1 == pytest.approx(0.5) and r.top5 == 1.0
    assert r.average_recall == pytest.approx(0.5)
    assert r.mean_confidence == pytest.approx(3.6 / 6)
    assert r.precision == pytest.approx([1.0, 1 / 3, 1 / 2])
    assert r.confusion_matrix().tolist() == [[1, 1, 0], [0, 1, 1], [0, 1, 1]]
    assert r.ece == pytest.approx(0.2) and r.mce == pytest.approx(0.45)
    assert r.calibration[0]["accuracy"] is None  # empty bin: undefined, not NaN
    assert r.train_bins is None and r.taxa_curve is None and r.superclass_table is None
