"""`write_humans_report`: the model-against-humans analysis as humans.md, a self-contained
humans.html, humans.json and two PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import fieldguide.evaluation.plots as plots
from fieldguide.evaluation.document import Cell, Document
from fieldguide.evaluation.humans import HumansResult
from fieldguide.evaluation.stats import TTestResult


def _test_row(label: str, t: TTestResult | None) -> list[Cell]:
    if t is None:
        return [label, None, None, None, None, None, None]
    return [label, t.reference, t.mean, t.sd, t.t, t.df, t.p_value]


def write_humans_report(result: HumansResult, out_dir: Path) -> dict[str, Path]:
    """Write the report into ``out_dir`` (created); return the files by role."""
    out_dir.mkdir(parents=True, exist_ok=True)
    r = result
    doc = Document(f"{r.model} against {len(r.humans)} human annotators")
    doc.para(f"Scored against '{r.expert}' on the {r.n_images} images the expert labelled.")
    doc.heading("Accuracy per annotator")
    doc.table(["annotator", "images", "accuracy", *r.classes],
              [[name, r.n_scored[name], r.accuracy[name], *r.class_accuracy[name]]
               for name in (*r.humans, r.model)]
              + [["expert's images per class", None, None, *r.class_support]])
    doc.heading("Model against humans (Student's t-tests)")
    doc.para("One-sample, two-sided: the human annotators' accuracies are the sample, the "
             "model's accuracy the reference value; per class, humans who labelled no image "
             "of that class are left out.")
    doc.table(["scope", "model", "human mean", "human sd", "t", "df", "p"],
              [_test_row("overall", r.overall_test)]
              + [_test_row(c, t) for c, t in zip(r.classes, r.class_tests, strict=True)])
    files: dict[str, Path] = {}
    series = {name: [r.accuracy[name], *r.class_accuracy[name]] for name in r.class_accuracy}
    files["class_accuracy"] = plots.annotator_png(
        ["overall", *r.classes], series, r.model, out_dir / "class_accuracy.png",
        "Accuracy against the expert")
    doc.image(files["class_accuracy"], "Per-class accuracy of each annotator")
    cm = np.array(r.confusion[r.model])
    files["model_confusion"] = plots.confusion_png(
        np.vstack([cm, np.zeros((cm.shape[1] - cm.shape[0], cm.shape[1]), dtype=np.int64)]),
        r.labels, out_dir / "model_confusion.png", f"{r.model} against {r.expert}")
    doc.heading("Confusion matrix of the model")
    doc.image(files["model_confusion"], f"Rows: {r.expert}'s label; columns: {r.model}'s")
    files.update(doc.write(out_dir, "humans"))
    files["json"] = out_dir / "humans.json"
    files["json"].write_text(r.to_json(), encoding="utf-8")
    return files
