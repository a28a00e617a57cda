"""Small hand-worked inputs and a seeded 12-class test set shared by the evaluation tests."""

from __future__ import annotations

import numpy as np
import pytest

#: 3 classes, 6 samples. Arg-max predictions 0,1,1,2,2,1; top-1 confidences
#: .7,.5,.8,.4,.6,.6; true-class ranks 0,1,0,2,0,1 (row 3 ties classes 0 and 1 at .3,
#: and the lower index ranks first).
HAND_PROBS = np.array([
    [0.7, 0.2, 0.1],
    [0.3, 0.5, 0.2],
    [0.1, 0.8, 0.1],
    [0.3, 0.3, 0.4],
    [0.2, 0.2, 0.6],
    [0.1, 0.6, 0.3],
])
HAND_Y = np.array([0, 0, 1, 1, 2, 2])
HAND_NAMES = ["vegetative", "flowering", "fruiting"]


def synthetic_test_set(
    overconfident: bool, seed: int = 7, n_classes: int = 12, per_class: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Plausible probabilities for ``per_class`` test images of each class. Each image gets
    a confidence c ~ U(0.4, 1) and is predicted right with probability c (calibrated by
    construction); the rest of the mass is spread over the other classes. Over-confident
    predictions keep the same right/wrong draws but report 0.95 + 0.05 c."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), per_class)
    n = len(y)
    c = rng.uniform(0.4, 1.0, n)
    right = rng.random(n) < c
    shift = rng.integers(1, n_classes, n)
    pred = np.where(right, y, (y + shift) % n_classes)
    top = 0.95 + 0.05 * c if overconfident else c
    probs = np.zeros((n, n_classes))
    for i in range(n):
        rest = (1 - top[i]) * rng.dirichlet(np.full(n_classes - 1, 2.0))
        others = [k for k in range(n_classes) if k != pred[i]]
        probs[i, others] = rest
        probs[i, pred[i]] = top[i]
    assert np.array_equal(probs.argmax(axis=1), pred)
    return probs, y


@pytest.fixture
def hand() -> tuple[np.ndarray, np.ndarray, list[str]]:
    return HAND_PROBS.copy(), HAND_Y.copy(), list(HAND_NAMES)
