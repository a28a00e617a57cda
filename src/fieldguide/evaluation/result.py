"""`evaluate`: every number of the evaluation in one JSON-ready dataclass, so training can
store it beside a checkpoint and reports can be redrawn from the JSON alone."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

import fieldguide.evaluation.breakdowns as bd
import fieldguide.evaluation.metrics as m
from fieldguide.evaluation.checks import check_counts, check_labels, check_names, check_probs


@dataclass
class EvaluationResult:
    """Metrics of one model on one test set. Per-class lists follow ``class_names``;
    ``None`` marks a value that is undefined (e.g. recall of a class with no test image).
    ``confusion`` is sparse: ``[true, predicted, count]`` for each non-zero cell."""

    class_names: list[str]
    n_samples: int
    top1: float
    top5: float
    average_recall: float
    mean_confidence: float
    precision: list[float]
    recall: list[float | None]
    f1: list[float | None]
    support: list[int]
    confusion: list[list[int]]
    ece: float
    mce: float
    calibration: list[dict[str, Any]]
    train_counts: list[int] | None = None
    superclass: list[str] | None = None
    superclass_table: list[dict[str, Any]] | None = None
    train_bins: list[dict[str, Any]] | None = None
    taxa_curve: dict[str, list[Any]] | None = None
    #: With the card's thresholds per taxon group: per group its photos (top class in it),
    #: threshold, coverage, precision and standard error on this split.
    group_thresholds: list[dict[str, Any]] | None = None

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def confusion_matrix(self) -> np.ndarray:
        """The dense (K, K) count matrix (rows: true class); mind K^2 for many classes."""
        cm = np.zeros((self.n_classes, self.n_classes), dtype=np.int64)
        cells = self.confusion_cells()
        cm[cells[:, 0], cells[:, 1]] = cells[:, 2]
        return cm

    def confusion_cells(self) -> np.ndarray:
        """``confusion`` as an (m, 3) int array of rows (true, predicted, count)."""
        return np.array(self.confusion, dtype=np.int64).reshape(-1, 3)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        """Strict JSON (no NaN): undefined values are already ``None``."""
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> EvaluationResult:
        data = json.loads(text)
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def _opt(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _clean_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _opt(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows]


def evaluate(
    probs: np.ndarray,
    y_true: np.ndarray,
    class_names: list[str],
    *,
    train_counts: np.ndarray | None = None,
    superclass: list[str] | None = None,
    calibration_bins: int = 15,
    group_thresholds: list[dict[str, Any]] | None = None,
) -> EvaluationResult:
    """Score a model's test-set probabilities: top-1/top-5, average recall, per-class
    precision/recall/F1, confusion counts, calibration (ECE/MCE, reliability bins), and when
    given, the per-super-class table (``superclass``: one name per class), accuracy
    against training images per class (``train_counts``: one count per class) and the
    table of thresholds per taxon group (``group_thresholds``, computed by the caller from
    the calibrated probabilities: ``identification.groups.group_figures``).

    Raises :class:`~fieldguide.errors.InputError` naming the field for malformed input."""
    p = check_probs(probs)
    n, k = p.shape
    names = check_names(class_names, k, "class_names")
    y = check_labels(y_true, n, k)
    counts = check_counts(train_counts, k) if train_counts is not None else None
    groups = check_names(superclass, k, "superclass") if superclass is not None else None

    pred = m.predict(p)
    rank = m.true_class_rank(p, y)
    top1_hits = bd.per_class_hits(rank < 1, y, k)
    top5_hits = bd.per_class_hits(rank < 5, y, k)
    precision, recall, f1, support = m.per_class_scores(y, pred, k)
    confidence = p[np.arange(n), pred]
    correct = pred == y
    return EvaluationResult(
        class_names=names,
        n_samples=n,
        top1=float(np.mean(rank < 1)),
        top5=float(np.mean(rank < 5)),
        average_recall=float(np.nanmean(recall)),
        mean_confidence=float(confidence.mean()),
        precision=[float(x) for x in precision],
        recall=[_opt(x) for x in recall],
        f1=[_opt(x) for x in f1],
        support=[int(x) for x in support],
        confusion=m.sparse_confusion(y, pred, k).tolist(),
        ece=m.expected_calibration_error(confidence, correct, calibration_bins),
        mce=m.max_calibration_error(confidence, correct, calibration_bins),
        calibration=_clean_rows(m.calibration_bins(confidence, correct, calibration_bins)),
        train_counts=[int(x) for x in counts] if counts is not None else None,
        superclass=groups,
        superclass_table=(_clean_rows(bd.superclass_table(groups, support, top1_hits,
                                                          top5_hits, counts))
                          if groups is not None else None),
        train_bins=(_clean_rows(bd.train_count_bins(counts, support, top1_hits))
                    if counts is not None else None),
        taxa_curve=(bd.taxa_included_curve(counts, support, top1_hits)
                    if counts is not None else None),
        group_thresholds=(_clean_rows(group_thresholds) if group_thresholds is not None
                          else None),
    )
