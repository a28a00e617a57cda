"""Two models on the same test images (Naturalis figures 3 and 5): both sets of metrics,
per-class differences, and McNemar's test on which images each gets right."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import fieldguide.evaluation.plots as plots
from fieldguide.errors import InputError
from fieldguide.evaluation.document import Document
from fieldguide.evaluation.metrics import predict
from fieldguide.evaluation.result import EvaluationResult, evaluate
from fieldguide.evaluation.stats import McNemarResult, mcnemar

#: Classes listed in the comparison table (largest recall changes first).
DIFF_ROWS = 25


@dataclass
class ComparisonResult:
    """Model ``names[0]`` (A) against ``names[1]`` (B). Differences are B minus A, per class
    in ``class_names`` order, ``None`` where a class has no test image."""

    names: list[str]
    a: EvaluationResult
    b: EvaluationResult
    mcnemar: McNemarResult
    recall_diff: list[float | None]
    f1_diff: list[float | None]

    def to_dict(self) -> dict[str, Any]:
        return {"names": self.names, "a": self.a.to_dict(), "b": self.b.to_dict(),
                "mcnemar": self.mcnemar.to_dict(), "recall_diff": self.recall_diff,
                "f1_diff": self.f1_diff}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> ComparisonResult:
        d = json.loads(text)
        return cls(d["names"], EvaluationResult.from_json(json.dumps(d["a"])),
                   EvaluationResult.from_json(json.dumps(d["b"])), McNemarResult(**d["mcnemar"]),
                   d["recall_diff"], d["f1_diff"])


def _diff(a: list[float | None], b: list[float | None]) -> list[float | None]:
    return [None if x is None or y is None else y - x for x, y in zip(a, b, strict=True)]


def compare_models(
    probs_a: np.ndarray,
    probs_b: np.ndarray,
    y_true: np.ndarray,
    class_names: list[str],
    names: tuple[str, str] = ("A", "B"),
    *,
    train_counts: np.ndarray | None = None,
    superclass: list[str] | None = None,
) -> ComparisonResult:
    """Evaluate both models on the same labels and test whether their top-1 error rates
    differ (McNemar, paired by image); ``train_counts`` adds the two taxa-included curves."""
    if np.shape(probs_a) != np.shape(probs_b):
        raise InputError(f"shape {np.shape(probs_b)} differs from probs_a's "
                         f"{np.shape(probs_a)}; both models must score the same images",
                         field="probs_b")
    a = evaluate(probs_a, y_true, class_names, train_counts=train_counts, superclass=superclass)
    b = evaluate(probs_b, y_true, class_names, train_counts=train_counts, superclass=superclass)
    y = np.asarray(y_true, dtype=np.int64)
    test = mcnemar(predict(np.asarray(probs_a)) == y, predict(np.asarray(probs_b)) == y)
    return ComparisonResult([str(names[0]), str(names[1])], a, b, test,
                            _diff(a.recall, b.recall), _diff(a.f1, b.f1))


def write_comparison(result: ComparisonResult, out_dir: Path) -> dict[str, Path]:
    """Write comparison.md, comparison.html (self-contained), comparison.json and the PNGs
    into ``out_dir``; return them by role."""
    out_dir.mkdir(parents=True, exist_ok=True)
    na, nb = result.names
    a, b, t = result.a, result.b, result.mcnemar
    doc = Document(f"{na} against {nb}")
    doc.heading("Summary")
    doc.table(["metric", na, nb, f"{nb} − {na}"], [
        [label, x, y, y - x] for label, x, y in [
            ("top-1 accuracy", a.top1, b.top1), ("top-5 accuracy", a.top5, b.top5),
            ("average recall", a.average_recall, b.average_recall),
            ("expected calibration error", a.ece, b.ece)]])
    doc.heading("McNemar's test")
    doc.table(["both right", f"only {na}", f"only {nb}", "both wrong", "statistic", "p", "method"],
              [[t.both, t.a_only, t.b_only, t.neither, t.statistic, t.p_value, t.method]])
    doc.para("Paired by image: only images one model gets right and the other wrong count. "
             "Exact binomial test below 25 such images, else chi-square with continuity "
             "correction.")
    files: dict[str, Path] = {}
    files["recall_scatter"] = plots.paired_scatter_png(
        a.recall, b.recall, (na, nb), out_dir / "recall_scatter.png", "Per-class recall")
    doc.heading("Per class")
    doc.image(files["recall_scatter"], "Per-class recall of both models")
    changed = [i for i, d in enumerate(result.recall_diff) if d is not None]
    changed.sort(key=lambda i: (-abs(result.recall_diff[i] or 0.0), i))
    doc.table(["class", "support", f"recall {na}", f"recall {nb}", "difference"],
              [[a.class_names[i], a.support[i], a.recall[i], b.recall[i], result.recall_diff[i]]
               for i in changed[:DIFF_ROWS]])
    if a.superclass_table and b.superclass_table:
        doc.heading("Per group")
        doc.para("Average recall (the mean over a group's tested classes of their recall) "
                 "and accuracy on the group's photos.")
        doc.table(["group", "classes", "test photos", f"average recall {na}",
                   f"average recall {nb}", f"accuracy {na}", f"accuracy {nb}"],
                  [[ra["superclass"], ra["n_classes"], ra["n_test_images"], ra["top1"],
                    rb["top1"], ra["image_top1"], rb["image_top1"]]
                   for ra, rb in zip(a.superclass_table, b.superclass_table, strict=True)])
    if a.taxa_curve is not None and b.taxa_curve is not None:
        files["taxa_curve"] = plots.taxa_curve_png(
            [(na, a.taxa_curve), (nb, b.taxa_curve)], out_dir / "taxa_curve.png",
            "Most common taxa included")
        doc.heading("Most common taxa included")
        doc.image(files["taxa_curve"], "Accuracy and average recall on the N most common taxa")
    files.update(doc.write(out_dir, "comparison"))
    files["json"] = out_dir / "comparison.json"
    files["json"].write_text(result.to_json(), encoding="utf-8")
    return files
