"""Accuracy broken down by class groups and by training-set size (iNat2017 Table 4 and
figure 5, Naturalis figure 4), and confusion matrices folded for thousands of classes."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

#: iNat2017 figure 5 bins of training images per class, as half-open [low, next low).
TRAIN_BIN_EDGES: tuple[int, ...] = (1, 10, 20, 50, 100, 1000)


def per_class_hits(mask: np.ndarray, y_true: np.ndarray, n_classes: int) -> np.ndarray:
    """Number of samples of each true class for which ``mask`` (e.g. top-1 correct) holds."""
    return np.bincount(y_true[mask], minlength=n_classes)


def group_confusion(
    cells: np.ndarray, group_of_class: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """Fold sparse confusion cells (rows true, predicted, count) into a dense group matrix
    (super-class, family, ...): entry (g, h) counts samples of a class in group g predicted
    as a class in group h, so thousands of species stay readable. Groups sorted by name."""
    names = sorted(set(group_of_class))
    index = {g: i for i, g in enumerate(names)}
    member = np.array([index[g] for g in group_of_class], dtype=np.int64)
    folded = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(folded, (member[cells[:, 0]], member[cells[:, 1]]), cells[:, 2])
    return folded, names


def most_confused(cells: np.ndarray, n: int = 20) -> list[tuple[int, int, int]]:
    """The ``n`` largest off-diagonal confusion cells (from sparse rows true, predicted,
    count) as (true, predicted, count), largest first, ties by class index: the errors
    worth looking at first."""
    off = cells[cells[:, 0] != cells[:, 1]]
    order = np.lexsort((off[:, 1], off[:, 0], -off[:, 2]))[:n]
    return [(int(t), int(p), int(c)) for t, p, c in off[order]]


def superclass_table(
    superclass: Sequence[str],
    support: np.ndarray,
    top1_hits: np.ndarray,
    top5_hits: np.ndarray,
    train_counts: np.ndarray | None,
) -> list[dict[str, object]]:
    """One row per super-class, iNat2017 Table 4 style: top-1/top-5 accuracy averaged across
    the classes of the super-class that have test images (so every species weighs the same),
    the pooled image-level top-1, class and test-image counts, and mean training images."""
    rows: list[dict[str, object]] = []
    groups = np.asarray(list(superclass))
    for g in sorted(set(superclass)):
        members = groups == g
        tested = members & (support > 0)
        n_img = int(support[members].sum())
        recall1 = top1_hits[tested] / support[tested]
        recall5 = top5_hits[tested] / support[tested]
        rows.append({
            "superclass": g,
            "n_classes": int(members.sum()),
            "n_test_images": n_img,
            "top1": float(recall1.mean()) if tested.any() else None,
            "top5": float(recall5.mean()) if tested.any() else None,
            "image_top1": float(top1_hits[members].sum() / n_img) if n_img else None,
            "avg_train": (float(train_counts[members].mean())
                          if train_counts is not None else None),
        })
    return rows


def _bin_label(low: int, high: int | None) -> str:
    if high is None:
        return f"{low}+"
    return str(low) if high - low == 1 else f"{low}-{high - 1}"


def train_count_bins(
    train_counts: np.ndarray,
    support: np.ndarray,
    top1_hits: np.ndarray,
    edges: Sequence[int] = TRAIN_BIN_EDGES,
) -> list[dict[str, object]]:
    """Top-1 accuracy against training images per class (iNat2017 figure 5). Bins are
    half-open ``[edges[i], edges[i+1])`` plus ``edges[-1]+``; classes with fewer than
    ``edges[0]`` images get a first bin of their own. Only classes with test images count.
    Each row: label, class count, test images, pooled accuracy, and the per-class accuracies
    (figure 5 draws their box plot)."""
    bounds: list[tuple[int, int | None]] = []
    if np.any(train_counts < edges[0]):
        bounds.append((0, edges[0]))
    bounds += [(lo, hi) for lo, hi in pairwise(edges)]
    bounds.append((edges[-1], None))
    rows: list[dict[str, object]] = []
    for lo, hi in bounds:
        members = (train_counts >= lo) & (support > 0)
        if hi is not None:
            members &= train_counts < hi
        n_img = int(support[members].sum())
        per_class = top1_hits[members] / support[members]
        rows.append({
            "bin": _bin_label(lo, hi),
            "n_classes": int(members.sum()),
            "n_test_images": n_img,
            "accuracy": float(top1_hits[members].sum() / n_img) if n_img else None,
            "class_accuracies": [float(x) for x in per_class],
        })
    return rows


def taxa_included_curve(
    train_counts: np.ndarray, support: np.ndarray, top1_hits: np.ndarray
) -> dict[str, list[object]]:
    """Naturalis figure 4: sort classes by training images (most first, ties by index); for
    N = 1..K, accuracy and average recall over the test images of the N most common classes.
    Predictions are not restricted to those N classes. Values are ``None`` until a class with
    test images is included. ``share_train`` is the cumulative share of training images, which
    marks the taxa covering 95% of the observations (the grey area of the figure)."""
    order = np.argsort(-train_counts, kind="stable")
    sup = support[order]
    hits = top1_hits[order]
    cum_img = np.cumsum(sup)
    cum_hits = np.cumsum(hits)
    recall = np.divide(hits, sup, out=np.zeros(len(sup)), where=sup > 0)
    cum_recall = np.cumsum(recall)
    cum_tested = np.cumsum(sup > 0)
    total_train = max(int(train_counts.sum()), 1)
    return {
        "class_order": [int(c) for c in order],
        "train_count": [int(train_counts[c]) for c in order],
        "share_train": [float(x) for x in np.cumsum(train_counts[order]) / total_train],
        "accuracy": [float(h / m) if m else None
                     for h, m in zip(cum_hits, cum_img, strict=True)],
        "average_recall": [float(r / t) if t else None
                           for r, t in zip(cum_recall, cum_tested, strict=True)],
    }
