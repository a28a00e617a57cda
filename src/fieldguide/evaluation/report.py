"""`write_report`: one evaluation as report.md, a self-contained report.html, metrics.json
and the PNG plots, readable for 12 classes and for thousands."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import fieldguide.evaluation.plots as plots
from fieldguide.evaluation.breakdowns import group_confusion, most_confused
from fieldguide.evaluation.document import Document
from fieldguide.evaluation.result import EvaluationResult

#: Class tables list every class up to this many; beyond, only the lowest-recall ones.
CLASS_TABLE_MAX = 40
#: Classes shown in a "most confused" confusion matrix when there are too many to draw.
TOP_CONFUSED = 20


def confusion_view(result: EvaluationResult) -> tuple[np.ndarray, list[str], str]:
    """The matrix to draw: all classes when few, else folded by super-class when known,
    else the classes involved in the largest off-diagonal cells."""
    if result.n_classes <= plots.ANNOTATE_MAX:
        return result.confusion_matrix(), result.class_names, "all classes"
    cells = result.confusion_cells()
    if result.superclass is not None:
        folded, names = group_confusion(cells, result.superclass)
        return folded, names, "by super-class"
    chosen: list[int] = []
    for t, p, _ in most_confused(cells, len(cells)):
        chosen += [c for c in (t, p) if c not in chosen]
        if len(chosen) >= TOP_CONFUSED:
            break
    chosen = chosen[:TOP_CONFUSED] or [0]
    where = {c: i for i, c in enumerate(chosen)}
    cm = np.zeros((len(chosen), len(chosen)), dtype=np.int64)
    for t, p, c in cells:
        if t in where and p in where:
            cm[where[t], where[p]] = c
    return cm, [result.class_names[i] for i in chosen], "most confused classes"


def headline_rows(result: EvaluationResult) -> list[list[str | int | float | None]]:
    return [["test images", result.n_samples], ["classes", result.n_classes],
            ["top-1 accuracy", result.top1], ["top-5 accuracy", result.top5],
            ["average recall", result.average_recall],
            ["mean top-1 confidence", result.mean_confidence],
            ["expected calibration error", result.ece], ["maximum calibration error", result.mce]]


def class_rows(result: EvaluationResult) -> list[list[str | int | float | None]]:
    order = list(range(result.n_classes))
    if result.n_classes > CLASS_TABLE_MAX:
        tested = [i for i in order if result.recall[i] is not None]
        order = sorted(tested, key=lambda i: (result.recall[i], i))[:CLASS_TABLE_MAX]
    counts = result.train_counts
    return [[result.class_names[i], result.support[i], result.precision[i], result.recall[i],
             result.f1[i], counts[i] if counts is not None else None] for i in order]


def write_report(result: EvaluationResult, out_dir: Path, title: str) -> dict[str, Path]:
    """Write the report files into ``out_dir`` (created) and return them by role:
    markdown, html, json, and one key per PNG plot."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    doc = Document(title)
    doc.heading("Summary")
    doc.table(["metric", "value"], headline_rows(result))
    doc.para("Average recall is the mean per-class recall over classes with test images "
             "(every taxon weighs the same); top-k counts a hit when the true class is among "
             "the k highest probabilities.")

    cm, labels, how = confusion_view(result)
    files["confusion"] = plots.confusion_png(cm, labels, out_dir / "confusion.png",
                                             f"Confusion matrix ({how})")
    doc.heading("Confusion matrix")
    doc.image(files["confusion"], f"Confusion matrix, {how}; colour: share of the true class")
    pairs = most_confused(result.confusion_cells(), TOP_CONFUSED)
    if pairs:
        doc.para("Most confused pairs:")
        doc.table(["true", "predicted", "images"],
                  [[result.class_names[t], result.class_names[p], c] for t, p, c in pairs])

    doc.heading("Per class")
    if result.n_classes > CLASS_TABLE_MAX:
        doc.para(f"The {CLASS_TABLE_MAX} classes with the lowest recall; every class is in "
                 "metrics.json.")
    doc.table(["class", "support", "precision", "recall", "F1", "train images"],
              class_rows(result))

    if result.superclass_table is not None:
        doc.heading("Per super-class")
        doc.para("Top-1/top-5 averaged over the classes of each super-class (iNat2017 Table 4).")
        doc.table(["super-class", "classes", "test images", "top-1", "top-5", "image top-1",
                   "avg train"],
                  [[r["superclass"], r["n_classes"], r["n_test_images"], r["top1"], r["top5"],
                    r["image_top1"], r["avg_train"]] for r in result.superclass_table])

    if result.train_bins is not None and result.taxa_curve is not None:
        doc.heading("Accuracy against training images per class")
        doc.table(["train images", "classes", "test images", "top-1"],
                  [[r["bin"], r["n_classes"], r["n_test_images"], r["accuracy"]]
                   for r in result.train_bins])
        files["train_bins"] = plots.train_bins_png(result.train_bins, out_dir / "train_bins.png",
                                                   "Per-class accuracy by training images")
        doc.image(files["train_bins"], "Per-class top-1 accuracy by training images per class")
        files["taxa_curve"] = plots.taxa_curve_png([("", result.taxa_curve)],
                                                   out_dir / "taxa_curve.png",
                                                   "Most common taxa included")
        doc.heading("Accuracy and average recall against the most common taxa included")
        doc.image(files["taxa_curve"], "Accuracy and average recall on the N most common taxa")

    if result.group_thresholds:
        doc.heading("Thresholds per taxon group")
        doc.para("Photos whose top class is in the group; auto-validated: calibrated "
                 "probability at or above the group's threshold (calibrate --groups-at); "
                 "s.e.: the binomial standard error of the precision.")
        doc.table(["group", "photos", "threshold", "coverage", "precision", "s.e."],
                  [[r["group"], r["n"], r["threshold"], r["coverage"], r["precision"],
                    r["standard_error"]] for r in result.group_thresholds])

    doc.heading("Calibration")
    files["reliability"] = plots.reliability_png(result.calibration, result.ece,
                                                 out_dir / "reliability.png", "Reliability")
    doc.image(files["reliability"], "Reliability diagram of top-1 confidence")
    doc.para(f"ECE {result.ece:.4f} and MCE {result.mce:.4f} over "
             f"{len(result.calibration)} equal-width confidence bins.")

    files.update(doc.write(out_dir, "report"))
    files["json"] = out_dir / "metrics.json"
    files["json"].write_text(result.to_json(), encoding="utf-8")
    return files
