"""Acceptance of thresholds per taxon group (issue #26, point 1) on the real flower photos:
here, beside the session's ImageNet EfficientNet-Lite0 features of the 960 photos, so they
are computed once."""

from __future__ import annotations

import numpy as np

from fieldguide.identification import fit_temperature, softmax
from fieldguide.identification.groups import fit_group_thresholds, group_figures
from tests.search.conftest import FLOWER_LINEAGE, _probe

TARGET = 0.95


def test_flower_groups_meet_the_target_on_the_test_split(
        flower_features: dict[str, np.ndarray]) -> None:
    """Acceptance: a lite0 probe fitted on 40 training photos per flower, T and the
    thresholds per family chosen on the other 20 (the validation split); on the 240 test
    photos each family's precision at its threshold is at least the target less twice the
    binomial standard error of a precision of the target on that many answers."""
    labels, split = flower_features["label"], flower_features["split"]
    rank_in_class = np.zeros(len(labels), dtype=np.int64)
    seen: dict[str, int] = {}
    for i, (lab, s) in enumerate(zip(labels, split, strict=True)):
        if s == "train":
            rank_in_class[i] = seen[lab] = seen.get(lab, 0) + 1
    train = (split == "train") & (rank_in_class <= 40)
    val = (split == "train") & (rank_in_class > 40)
    test = split == "test"
    logits = _probe(flower_features["embedding"], labels, train)
    classes = sorted(set(labels.tolist()))
    y = np.array([classes.index(v) for v in labels])
    lineage = {c: {"genus": g, "family": f} for c, (g, f) in FLOWER_LINEAGE.items()}
    t = fit_temperature(logits[val], y[val])
    fitted = fit_group_thresholds(softmax(logits[val], t), y[val], classes, lineage, TARGET,
                                  rank="family")
    assert len(fitted.thresholds) == 6
    figures = group_figures(softmax(logits[test], t), y[test], classes, fitted)
    print(fitted.text())
    answered = 0
    for f in figures:
        k = round(f.coverage * f.n)
        answered += k
        if k == 0:
            continue
        sampling = float(np.sqrt(TARGET * (1 - TARGET) / k))
        print(f"{f.group}: {k} answers, precision {f.precision:.3f} >= "
              f"{TARGET} - 2 x {sampling:.3f}")
        assert f.precision >= TARGET - 2 * sampling, f
    assert answered >= 150  # the thresholds still auto-validate most photos
