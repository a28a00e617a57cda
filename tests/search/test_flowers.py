"""Acceptance on real photos (issue #13): the oxford_flowers12 photos through ImageNet
EfficientNet-Lite0, a linear probe fitted on the train split for the logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fieldguide.search import Entries, ModelIdentity, candidates, similar, write_index
from tests.search.conftest import FLOWER_LINEAGE

pytestmark = pytest.mark.slow
LINEAGE = {c: {"genus": g, "family": f, "kingdom": "Plantae"}
           for c, (g, f) in FLOWER_LINEAGE.items()}
CLASSES = sorted(LINEAGE)
MODEL = ModelIdentity("lite0-probe", "1", "0" * 64, 1280)


def _entries(f: dict[str, np.ndarray], rows: np.ndarray, label: list[str]) -> Entries:
    ids = [str(p) for p in f["path"][rows]]
    return Entries(ids, ids, ids, label, f["embedding"][rows], f["logits"][rows])


def test_top5_neighbours_are_of_the_species(flower_features: dict[str, np.ndarray],
                                            tmp_path: Path) -> None:
    f = flower_features
    train, test = np.flatnonzero(f["split"] == "train"), np.flatnonzero(f["split"] == "test")
    ix = write_index(tmp_path / "ix", _entries(f, train, f["label"][train].tolist()),
                     model=MODEL, classes=CLASSES, lineage=LINEAGE)
    found = similar(ix, f["embedding"][test], k=5)
    same = f["label"][train][found.rows] == f["label"][test][:, None]
    per_class = {c: float(same[f["label"][test] == c].mean()) for c in CLASSES}
    print("top-5 same species:", round(float(same.mean()), 3), per_class)
    assert same.mean() >= 0.90


def test_reverse_search_finds_planted_relabels(flower_features: dict[str, np.ndarray],
                                               tmp_path: Path) -> None:
    """For each species, 5 of its 20 test photos are relabelled to its genus, to Plantae, to
    nothing or to another species; candidates() must put them at the top."""
    f = flower_features
    label = f["label"].tolist()
    test = np.flatnonzero(f["split"] == "test")
    rng = np.random.default_rng(0)
    planted: dict[str, set[str]] = {}
    for j, c in enumerate(CLASSES):
        rows = rng.choice(test[f["label"][test] == c], 5, replace=False)
        wrong = CLASSES[(j + 1) % len(CLASSES)]
        for r, new in zip(rows, [LINEAGE[c]["genus"], "Plantae", "", wrong, ""], strict=True):
            label[r] = new
        planted[c] = {str(f["path"][r]) for r in rows}
    ix = write_index(tmp_path / "ix", _entries(f, np.arange(len(label)), label), model=MODEL,
                     classes=CLASSES, lineage=LINEAGE)
    precision = {}
    for c in CLASSES:
        top = candidates(ix, c, min_score=0.5, neighbours=3)[:5]
        precision[c] = len({r["photo_id"] for r in top} & planted[c]) / 5
    print("precision at the number planted:", round(float(np.mean(list(precision.values()))),
                                                    3), precision)
    assert np.mean(list(precision.values())) >= 0.8
