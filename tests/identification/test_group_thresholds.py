"""Thresholds per taxon group (issue #26, point 1): the choice on a validation split, the
shrinkage toward the parent, the card entry, the decision core applying them, the
``threshold`` column and the refusals (the acceptance on the real flower photos is in
tests/search/test_flower_group_thresholds.py, beside the flower features it shares)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from tests.identification.conftest import CLASSES, TAXONOMY, write_photos
from typer.testing import CliRunner

from fieldguide.cli.main import app
from fieldguide.errors import InputError
from fieldguide.identification import class_tree
from fieldguide.identification.decision import Rule, rank_probabilities
from fieldguide.identification.groups import (
    GroupThresholds,
    best_threshold,
    fit_group_thresholds,
)
from fieldguide.identification.posterior import decide_rows


def test_best_threshold_is_the_lowest_meeting_the_target() -> None:
    conf = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    right = np.array([1, 1, 1, 0, 1, 0], dtype=bool)
    assert best_threshold(conf, right, 0.75) == 0.7  # 4 of 5 right at 0.7
    assert best_threshold(conf, right, 0.95) == 0.9
    assert best_threshold(conf, np.zeros(6, dtype=bool), 0.5) is None
    assert best_threshold(np.array([0.9, 0.9]), np.array([True, False]), 0.9) is None  # a tie


def test_small_groups_are_shrunk_toward_their_parent() -> None:
    """Cool (blue + green) is hard, Warm (red) easy; with k = 0 each keeps its own
    threshold, with a large k both move toward the parent's (Colour: every photo)."""
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 3, n)
    conf = rng.uniform(0.5, 1.0, n)
    right = (y == 2) | (rng.uniform(size=n) < conf)  # red always right, the others as sure
    top = np.where(right, y, (y + 1) % 2)
    probs = np.zeros((n, 3))
    probs[np.arange(n), top] = conf
    probs[np.arange(n), (top + 1) % 3] = 1 - conf
    own = fit_group_thresholds(probs, y, CLASSES, TAXONOMY, 0.9, rank="genus", shrink=0.0)
    assert own.thresholds["Warm"] < own.thresholds["Cool"]
    assert own.class_group == {"blue": "Cool", "green": "Cool", "red": "Warm"}
    wide = fit_group_thresholds(probs, y, CLASSES, TAXONOMY, 0.9, rank="genus", shrink=1e6)
    assert wide.thresholds["Warm"] == pytest.approx(wide.thresholds["Cool"], abs=1e-3)
    back = GroupThresholds.from_dict(json.loads(json.dumps(own.to_dict())))
    assert back == own


def test_the_rule_applies_each_rows_group_threshold() -> None:
    tree = class_tree(CLASSES, TAXONOMY)
    fitted = GroupThresholds(0.9, 0.0, 0.9, {"Cool": 0.6, "Warm": 0.99},
                             {"blue": "Cool", "green": "Cool", "red": "Warm"}, "genus")
    rule = fitted.rule(Rule(threshold=0.5, coarsest="family"), CLASSES)
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.1, 0.1, 0.8]])
    ok = np.ones(3, dtype=bool)
    d = decide_rows(rank_probabilities(probs, tree), tree, rule, ok, ~ok)
    assert d.taxon == ["blue", "Colour", "Colour"]  # red's 0.8 misses Warm's 0.99
    np.testing.assert_allclose(d.threshold, [0.6, 0.99, 0.99])
    assert d.group == ["Cool", "Warm", "Warm"]
    plain = decide_rows(rank_probabilities(probs, tree), tree, rule.without_groups(), ok, ~ok)
    assert plain.taxon == ["blue", "red", "red"] and plain.group == ["", "", ""]


def _listing(tmp_path: Path, n: int) -> Path:
    rows = write_photos(tmp_path / "img", n)
    lines = ["photo_id,path,label,split"] + [f"p{i},{p},{lab},val"
                                             for i, (p, lab) in enumerate(rows)]
    (tmp_path / "val.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "val.csv"


def test_calibrate_stores_them_and_identify_writes_the_threshold_met(
        tmp_path: Path, tiny_model: Path) -> None:
    source = _listing(tmp_path, 30)
    runner = CliRunner()
    res = runner.invoke(app, ["calibrate", str(tiny_model), str(source), "--groups-at",
                              "genus", "--target-precision", "0.9"])
    assert res.exit_code == 0, res.output
    assert "| Cool |" in res.output and "| Warm |" in res.output
    card = json.loads((tiny_model / "model.json").read_text())
    stored = GroupThresholds.from_dict(card["extras"]["group_thresholds"])
    assert stored.rank == "genus" and set(stored.thresholds) == {"Cool", "Warm"}
    out = tmp_path / "o.csv"
    res = runner.invoke(app, ["identify", str(tiny_model), str(source), "-o", str(out)])
    assert res.exit_code == 0, res.output
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        group = stored.class_group[r["taxon_1"]]
        assert float(r["threshold"]) == pytest.approx(stored.thresholds[group])
        assert f"group_threshold:{group}" in r["provenance"]
    res = runner.invoke(app, ["identify", str(tiny_model), str(source), "-o", str(out),
                              "--no-group-thresholds", "--threshold", "0.8"])
    assert res.exit_code == 0, res.output
    with out.open() as fh:
        assert {r["threshold"] for r in csv.DictReader(fh)} == {"0.8"}
    # calibrating again without groups drops thresholds chosen at the old temperature
    res = runner.invoke(app, ["calibrate", str(tiny_model), str(source)])
    assert res.exit_code == 0, res.output
    assert "group_thresholds" not in json.loads((tiny_model / "model.json").read_text())[
        "extras"]


@pytest.mark.parametrize(("args", "message"), [
    (["--groups-at", "genus", "--target-precision", "1.0"], "outside (0, 1)"),
    (["--groups-at", "genus", "--target-precision", "0"], "outside (0, 1)"),
    (["--groups-at", "genra"], "unknown rank 'genra' (did you mean 'genus'?)"),
    (["--groups-at", "genus", "--groups", "CLADES"], "not both"),
    (["--groups", "CLADES"], "line 2, field 'clade list': unknown taxon 'Warn'"),
])
def test_calibrate_refuses_bad_groups_in_one_line(tmp_path: Path, tiny_model: Path,
                                                  args: list[str], message: str) -> None:
    source = _listing(tmp_path, 3)
    clades = tmp_path / "clades.txt"
    clades.write_text("Cool\nWarn\n")
    args = [str(clades) if a == "CLADES" else a for a in args]
    res = CliRunner().invoke(app, ["calibrate", str(tiny_model), str(source), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and len(res.output.strip().splitlines()) == 1, res.output
    if "Warn" in message:
        assert "did you mean 'Warm'" in res.output


def test_clade_list_groups(tmp_path: Path, tiny_model: Path) -> None:
    source = _listing(tmp_path, 12)
    clades = tmp_path / "clades.txt"
    clades.write_text("# hard ones apart\nCool\n")
    res = CliRunner().invoke(app, ["calibrate", str(tiny_model), str(source), "--groups",
                                   str(clades)])
    assert res.exit_code == 0, res.output
    stored = GroupThresholds.from_dict(json.loads((tiny_model / "model.json").read_text())[
        "extras"]["group_thresholds"])
    assert stored.clades == ("Cool",) and stored.class_group["red"] == ""


def test_a_damaged_card_entry_is_refused() -> None:
    with pytest.raises(InputError, match="outside"):
        GroupThresholds.from_dict({"target": 0.9, "shrink": 1, "overall": 0.9,
                                   "thresholds": {"Cool": 1.5}, "class_group": {}})
    with pytest.raises(InputError, match="damaged"):
        GroupThresholds.from_dict({"target": 0.9})
