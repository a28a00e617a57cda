"""Classification metrics on a probability matrix, each defined in its docstring.

Conventions: ``probs`` is (n, K) with rows summing to 1, ``y_true`` holds class indices, the
prediction is the arg-max (ties go to the lower class index, as ``np.argmax`` does) and ranks
break ties the same way, so top-1 accuracy equals the accuracy of the arg-max prediction.
Undefined values (recall of a class with no test image) are NaN here and ``None`` in JSON.
"""

from __future__ import annotations

import numpy as np

#: Rows scored per block when ranking, so an (n, K) boolean never exceeds ~4M cells.
_BLOCK_CELLS = 4_000_000


def predict(probs: np.ndarray) -> np.ndarray:
    """Top-1 prediction per row (lowest index among tied maxima)."""
    return np.asarray(np.argmax(probs, axis=1), dtype=np.int64)


def true_class_rank(probs: np.ndarray, y_true: np.ndarray) -> np.ndarray:
    """0-based rank of the true class in each row: the number of classes scored higher, plus
    tied classes with a lower index. A sample is top-k correct when its rank is below k."""
    n, k = probs.shape
    ranks = np.empty(n, dtype=np.int64)
    step = max(1, _BLOCK_CELLS // k)
    cols = np.arange(k)
    for start in range(0, n, step):
        p = probs[start : start + step]
        y = y_true[start : start + step]
        p_true = p[np.arange(len(y)), y][:, None]
        higher = (p > p_true).sum(axis=1)
        tied_before = ((p == p_true) & (cols[None, :] < y[:, None])).sum(axis=1)
        ranks[start : start + step] = higher + tied_before
    return ranks


def top_k_accuracy(probs: np.ndarray, y_true: np.ndarray, k: int) -> float:
    """Share of samples whose true class is among the ``k`` highest-scored classes
    (iNat2017's top-1/top-5; with ``k >= K`` it is 1)."""
    return float(np.mean(true_class_rank(probs, y_true) < k))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of true class ``i`` predicted as ``j`` (rows: truth)."""
    flat = y_true.astype(np.int64) * n_classes + y_pred.astype(np.int64)
    counts = np.bincount(flat, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)


def sparse_confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """The non-zero cells of :func:`confusion_matrix` as rows (true, predicted, count), in
    row-major order: at most n rows, so thousands of classes cost no K x K memory."""
    flat, counts = np.unique(y_true.astype(np.int64) * n_classes + y_pred, return_counts=True)
    return np.stack([flat // n_classes, flat % n_classes, counts], axis=1).astype(np.int64)


def per_class_scores(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall, F1 and support.

    precision_c = TP / predicted-as-c (0 when c is never predicted, so a model that never
    names a class is not rewarded); recall_c = TP / support (NaN when the class has no test
    image); F1 = harmonic mean of the two (0 when both are 0, NaN when recall is NaN).
    """
    support = np.bincount(y_true, minlength=n_classes)
    predicted = np.bincount(y_pred, minlength=n_classes)
    tp = np.bincount(y_true[y_true == y_pred], minlength=n_classes).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros(n_classes), where=predicted > 0)
    recall = np.divide(tp, support, out=np.full(n_classes, np.nan), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(n_classes),
                   where=np.isfinite(denom) & (denom > 0))
    f1[support == 0] = np.nan
    return precision, recall, f1, support


def average_recall(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean per-class recall over classes present in the test set (Naturalis' "average
    recall", the average recognition rate per taxon): every taxon weighs the same, so it
    exposes poor recognition of rare taxa that plain accuracy hides."""
    recall = per_class_scores(y_true, y_pred, n_classes)[1]
    return float(np.nanmean(recall))


def calibration_bins(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15
) -> list[dict[str, float | int]]:
    """Equal-width bins of top-1 confidence on [0, 1]: bin b holds confidences in
    ``(b/n_bins, (b+1)/n_bins]`` (the first bin also holds 0). Each row gives the bin's edges,
    its sample count, mean confidence and accuracy (NaN when empty)."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct.astype(np.float64), minlength=n_bins)
    rows: list[dict[str, float | int]] = []
    for b in range(n_bins):
        c = int(count[b])
        rows.append({
            "low": float(edges[b]), "high": float(edges[b + 1]), "count": c,
            "confidence": float(conf_sum[b] / c) if c else float("nan"),
            "accuracy": float(acc_sum[b] / c) if c else float("nan"),
        })
    return rows


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15
) -> float:
    """ECE = sum over bins of (n_b / n) * |accuracy_b - confidence_b| with equal-width bins
    of top-1 confidence: the average gap between how sure the model says it is and how often
    it is right, which auto-validation thresholds rely on (Naturalis' calibration)."""
    rows = calibration_bins(confidence, correct, n_bins)
    n = len(confidence)
    return float(sum(int(r["count"]) / n * abs(float(r["accuracy"]) - float(r["confidence"]))
                     for r in rows if r["count"]))


def max_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> float:
    """MCE = the largest |accuracy_b - confidence_b| over non-empty bins: the worst
    confidence range, which matters when one threshold decides auto-validation."""
    rows = calibration_bins(confidence, correct, n_bins)
    return float(max(abs(float(r["accuracy"]) - float(r["confidence"]))
                     for r in rows if r["count"]))
