"""Model against human annotators (seed 000, Reeb et al. 2022): every annotator's labels are
scored against an expert's, overall and per class (phenophase), and the model's accuracy is
set against the humans' with one-sample Student's t-tests."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fieldguide.errors import InputError
from fieldguide.evaluation.stats import TTestResult, one_sample_t

COLUMNS = ("image", "annotator", "label")


def read_annotations(path: Path) -> dict[str, dict[str, str]]:
    """Read a CSV with columns image, annotator, label (others ignored) into
    ``{annotator: {image: label}}``. Blank cells and an annotator labelling one image twice
    are refused with the line and field named."""
    out: dict[str, dict[str, str]] = {}
    first_line: dict[tuple[str, str], int] = {}
    with Path(path).open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        for col in COLUMNS:
            if col not in header:
                raise InputError(f"missing required column '{col}'", path, line=1, field=col)
        reader.fieldnames = header
        for row in reader:
            line = reader.line_num
            cells = {c: (row.get(c) or "").strip() for c in COLUMNS}
            for col, value in cells.items():
                if not value:
                    raise InputError("empty value", path, line=line, field=col)
            key = (cells["annotator"], cells["image"])
            if key in first_line:
                raise InputError(f"annotator '{key[0]}' labelled image '{key[1]}' twice "
                                 f"(first at line {first_line[key]})", path, line, "image")
            first_line[key] = line
            out.setdefault(cells["annotator"], {})[cells["image"]] = cells["label"]
    return out


@dataclass
class HumansResult:
    """Per-annotator accuracy against the expert. ``class_accuracy[name][i]`` is the share
    of images the expert put in ``classes[i]`` that ``name`` labelled the same (``None`` if
    ``name`` labelled none of them); ``confusion[name]`` has rows ``classes`` and columns
    ``labels`` (the classes, then any other label an annotator used)."""

    expert: str
    model: str
    humans: list[str]
    classes: list[str]
    labels: list[str]
    n_images: int
    class_support: list[int]
    accuracy: dict[str, float]
    n_scored: dict[str, int]
    class_accuracy: dict[str, list[float | None]]
    confusion: dict[str, list[list[int]]]
    overall_test: TTestResult
    class_tests: list[TTestResult | None]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> HumansResult:
        d = json.loads(text)
        d["overall_test"] = TTestResult(**d["overall_test"])
        d["class_tests"] = [TTestResult(**t) if t is not None else None
                            for t in d["class_tests"]]
        return cls(**d)


def _score(truth: dict[str, str], given: dict[str, str], classes: list[str],
           labels: list[str]) -> tuple[float, int, list[float | None], list[list[int]]]:
    col = {lab: j for j, lab in enumerate(labels)}
    row = {c: i for i, c in enumerate(classes)}
    cm = np.zeros((len(classes), len(labels)), dtype=np.int64)
    for image, lab in given.items():
        if image in truth:
            cm[row[truth[image]], col[lab]] += 1
    hits = np.diag(cm[:, : len(classes)])
    per_class = cm.sum(axis=1)
    scored = int(cm.sum())
    acc = [float(h / s) if s else None for h, s in zip(hits, per_class, strict=True)]
    return float(hits.sum() / max(scored, 1)), scored, acc, cm.tolist()


def analyse_humans(
    annotations: dict[str, dict[str, str]],
    *,
    expert: str = "expert",
    model: str = "model",
    path: Path | None = None,
) -> HumansResult:
    """Score every annotator and the model against ``expert`` on the images the expert
    labelled (others are ignored, as Reeb et al. dropped unclassifiable images), then test
    the model against the humans overall and per class (see :func:`one_sample_t`)."""
    for role, name in (("expert", expert), ("model", model)):
        if not annotations.get(name):
            raise InputError(f"no labels from the {role} annotator '{name}'", path,
                             field="annotator")
    truth = annotations[expert]
    humans = sorted(a for a in annotations if a not in (expert, model))
    if not humans:
        raise InputError(f"no human annotators besides '{expert}' and '{model}'", path,
                         field="annotator")
    classes = sorted(set(truth.values()))
    used = {lab for a in (*humans, model) for lab in annotations[a].values()}
    labels = classes + sorted(used - set(classes))
    accuracy: dict[str, float] = {}
    n_scored: dict[str, int] = {}
    class_acc: dict[str, list[float | None]] = {}
    confusion: dict[str, list[list[int]]] = {}
    for name in (*humans, model):
        acc, scored, per_class, cm = _score(truth, annotations[name], classes, labels)
        if scored == 0:
            raise InputError(f"annotator '{name}' labelled none of the expert's images", path,
                             field="annotator")
        accuracy[name], n_scored[name], class_acc[name], confusion[name] = (
            acc, scored, per_class, cm)
    overall = one_sample_t(np.array([accuracy[h] for h in humans]), accuracy[model])
    tests: list[TTestResult | None] = []
    for i in range(len(classes)):
        ref = class_acc[model][i]
        values = np.array([v for h in humans if (v := class_acc[h][i]) is not None])
        tests.append(one_sample_t(values, ref) if ref is not None else None)
    support = [sum(1 for lab in truth.values() if lab == c) for c in classes]
    return HumansResult(expert, model, humans, classes, labels, len(truth), support, accuracy,
                        n_scored, class_acc, confusion, overall, tests)
