"""Temperature scaling, the model.json update, and the risk-coverage table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.identification.conftest import CLASSES, TAXONOMY, write_photos

from fieldguide.identification import (
    Classifier,
    calibrate,
    class_tree,
    fit_temperature,
    nll,
    read_photos,
    risk_coverage,
    risk_table,
    softmax,
    threshold_for,
)
from fieldguide.identification.decision import Rule


def overconfident(n: int = 4000, k: int = 5, t: float = 2.5) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the model reports z * t (too sure)."""
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, (n, k))
    p = softmax(z)
    y = np.array([rng.choice(k, p=row) for row in p])
    return z * t, y


def test_fit_recovers_the_temperature() -> None:
    logits, y = overconfident()
    t = fit_temperature(logits, y)
    assert t == pytest.approx(2.5, rel=0.08)
    assert nll(logits, y, t) < nll(logits, y)


def test_calibrate_writes_the_slot_and_keeps_the_rest(tmp_path: Path, tiny_model: Path) -> None:
    rows = write_photos(tmp_path / "img", 30)
    lines = ["path,label,split"] + [f"{p},{lab},val" for p, lab in rows]
    (tmp_path / "val.csv").write_text("\n".join(lines) + "\n")
    report = calibrate(tiny_model, read_photos(tmp_path / "val.csv", "val"))
    card = json.loads((tiny_model / "model.json").read_text())
    assert card["temperature"] == pytest.approx(report.temperature)
    assert card["metrics"]["top1"] == 1.0 and card["metrics"]["calibration"]["n"] == 30
    assert report.nll_after <= report.nll_before and report.accuracy == 1.0
    assert Classifier(tiny_model, 1).temperature == pytest.approx(report.temperature)


def test_risk_coverage_on_a_known_case() -> None:
    tree = class_tree(CLASSES, TAXONOMY)
    probs = np.array([[0.96, 0.02, 0.02], [0.5, 0.45, 0.05], [0.1, 0.05, 0.85],
                      [0.99, 0.01, 0.0]])
    y = np.array([0, 1, 2, 1])  # the last one is confidently wrong
    rows = risk_coverage(probs, y, tree, Rule(), [0.8, 0.9, 0.97])
    assert [r.coverage for r in rows] == [0.75, 0.5, 0.25]
    assert [r.precision for r in rows] == pytest.approx([2 / 3, 0.5, 0.0])
    # at 0.9 the 50/45 photo is decided at genus (right), the 85% one at family (right)
    assert rows[1].decided == 1.0 and rows[1].decided_precision == 0.75
    assert threshold_for(rows, 0.34) == rows[0] and threshold_for(rows, 0.1) is None
    assert "| 0.90 | 50.0% | 50.00% |" in risk_table(rows)
