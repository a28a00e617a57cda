"""Reports render (files, embedded images, JSON round trip) on a realistic 12-class test set,
a 300-class one, and a two-model comparison; calibration separates good and bad models."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from fieldguide.evaluation import (
    ComparisonResult,
    EvaluationResult,
    compare_models,
    evaluate,
    write_comparison,
    write_report,
)
from fieldguide.evaluation.metrics import predict
from fieldguide.evaluation.report import confusion_view
from tests.evaluation.conftest import synthetic_test_set

NAMES = [f"species {i:02d}" for i in range(12)]
TRAIN = np.array([1500, 800, 400, 150, 90, 60, 45, 30, 18, 12, 8, 3])
SUPER = ["Plantae"] * 6 + ["Insecta"] * 4 + ["Aves"] * 2
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_ece_small_when_calibrated_and_large_when_overconfident() -> None:
    calibrated = evaluate(*synthetic_test_set(False), NAMES)
    over = evaluate(*synthetic_test_set(True), NAMES)
    assert calibrated.top1 == pytest.approx(over.top1)  # same right/wrong draws
    # 240 images leave a sampling floor: over 100 seeds a calibrated model's ECE averaged
    # 0.06 (max 0.10) while the over-confident one never fell below 0.22.
    assert calibrated.ece < 0.11
    assert over.ece > 0.2
    assert over.ece == pytest.approx(over.mean_confidence - over.top1, abs=0.01)
    assert over.mce > calibrated.mce
    big = evaluate(*synthetic_test_set(False, per_class=500), NAMES)
    assert big.ece < 0.03  # the floor shrinks with more images


def test_write_report_on_twelve_classes(tmp_path: Path) -> None:
    probs, y = synthetic_test_set(False)
    result = evaluate(probs, y, NAMES, train_counts=TRAIN, superclass=SUPER)
    files = write_report(result, tmp_path / "rep", "Flowers, 12 species")
    assert set(files) == {"markdown", "html", "json", "confusion", "reliability",
                          "train_bins", "taxa_curve"}
    for key in ("confusion", "reliability", "train_bins", "taxa_curve"):
        assert files[key].read_bytes()[:8] == PNG_MAGIC
        assert f"]({files[key].name})" in files["markdown"].read_text()
    page = files["html"].read_text()
    assert page.count('src="data:image/png;base64,') == 4
    assert "src=\"http" not in page and 'href="' not in page  # nothing outside the file
    embedded = page.split('src="data:image/png;base64,')[1].split('"')[0]
    assert base64.b64decode(embedded) == files["confusion"].read_bytes()
    md = files["markdown"].read_text()
    assert "| Plantae | 6 | 120 |" in md and "| 1000+ | 1 | 20 |" in md
    again = EvaluationResult.from_json(files["json"].read_text())
    assert again == result
    assert json.loads(files["json"].read_text())["top1"] == result.top1
    view, labels, how = confusion_view(result)
    assert how == "all classes" and labels == NAMES and view.sum() == 240


def test_many_classes_fold_by_superclass_or_show_most_confused(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    k, n = 300, 900
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 4.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    names = [f"taxon {i}" for i in range(k)]
    groups = [f"family {i % 7}" for i in range(k)]
    counts = rng.integers(1, 3000, k)
    grouped = evaluate(probs, y, names, train_counts=counts, superclass=groups)
    cm, labels, how = confusion_view(grouped)
    assert how == "by super-class" and cm.shape == (7, 7) and cm.sum() == n
    plain = evaluate(probs, y, names)
    cm, labels, how = confusion_view(plain)
    assert how == "most confused classes" and len(labels) == 20
    files = write_report(grouped, tmp_path / "big", "300 taxa")
    assert "lowest recall" in files["markdown"].read_text()
    assert EvaluationResult.from_json(files["json"].read_text()) == grouped


def test_compare_models_and_write_comparison(tmp_path: Path) -> None:
    probs_a, y = synthetic_test_set(False, seed=1)
    probs_b, _ = synthetic_test_set(True, seed=2)
    result = compare_models(probs_a, probs_b, y, NAMES, ("2021", "2023"), train_counts=TRAIN)
    right_a, right_b = predict(probs_a) == y, predict(probs_b) == y
    t = result.mcnemar
    assert (t.both, t.a_only, t.b_only, t.neither) == (
        int(np.sum(right_a & right_b)), int(np.sum(right_a & ~right_b)),
        int(np.sum(~right_a & right_b)), int(np.sum(~right_a & ~right_b)))
    assert result.a.top1 == pytest.approx(right_a.mean())
    i = 4
    a_rec, b_rec = result.a.recall[i], result.b.recall[i]
    assert a_rec is not None and b_rec is not None
    assert result.recall_diff[i] == pytest.approx(b_rec - a_rec)
    files = write_comparison(result, tmp_path / "cmp")
    assert set(files) == {"markdown", "html", "json", "recall_scatter", "taxa_curve"}
    assert files["html"].read_text().count("data:image/png;base64,") == 2
    assert "McNemar" in files["markdown"].read_text()
    assert ComparisonResult.from_json(files["json"].read_text()) == result


def test_report_shows_precision_and_coverage_per_taxon_group(tmp_path: Path) -> None:
    """The table of thresholds per taxon group (calibrate --groups-at), computed by
    identification.groups on the same probabilities, is in the report and metrics.json."""
    from dataclasses import asdict

    from fieldguide.identification.groups import fit_group_thresholds, group_figures

    probs, y = synthetic_test_set(False)
    lineage = {n: {"class": s} for n, s in zip(NAMES, SUPER, strict=True)}
    fitted = fit_group_thresholds(probs, y, NAMES, lineage, 0.9, rank="class")
    table = [asdict(f) for f in group_figures(probs, y, NAMES, fitted)]
    result = evaluate(probs, y, NAMES, group_thresholds=table)
    files = write_report(result, tmp_path / "rep", "groups")
    text = files["markdown"].read_text()
    assert "## Thresholds per taxon group" in text
    for group in ("Plantae", "Insecta", "Aves"):
        assert f"| {group} |" in text
    back = json.loads(files["json"].read_text())["group_thresholds"]
    assert [r["group"] for r in back] == ["Aves", "Insecta", "Plantae"]
    assert all(0 < r["threshold"] <= 1 for r in back)
