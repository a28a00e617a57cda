from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fieldguide.training.imbalance import (
    estimate_prior,
    logit_adjustment,
    loss_weights,
    prior_correction,
    sample_weights,
)

COUNTS = np.array([90, 9, 1])


def test_sampling_modes() -> None:
    labels = np.repeat([0, 1, 2], COUNTS)
    per_class = {m: np.bincount(labels, sample_weights(labels, COUNTS, m)) for m in
                 ("uniform", "class-balanced", "sqrt")}
    np.testing.assert_allclose(per_class["uniform"], COUNTS / 100)
    np.testing.assert_allclose(per_class["class-balanced"], [1 / 3] * 3)
    assert per_class["sqrt"][0] > per_class["sqrt"][2] > per_class["uniform"][2]


def test_loss_weights() -> None:
    assert loss_weights(COUNTS, "none") is None
    inverse = loss_weights(COUNTS, "inverse")
    effective = loss_weights(COUNTS, "effective", beta=0.9)
    assert inverse is not None and effective is not None
    assert np.isclose(inverse.mean(), 1.0)
    assert np.isclose(inverse[2] / inverse[0], 90)
    assert 1 < effective[2] / effective[0] < 90  # saturates for large classes


def test_logit_adjustment_is_scaled_log_prior() -> None:
    adj = logit_adjustment(COUNTS, 1.0)
    np.testing.assert_allclose(np.exp(adj), COUNTS / 100)
    assert not logit_adjustment(COUNTS, 0.0).any()


@given(st.lists(st.floats(0.01, 1.0), min_size=3, max_size=3))
def test_prior_correction_is_identity_for_the_same_prior(raw: list[float]) -> None:
    probs = np.array([raw]) / np.sum(raw)
    np.testing.assert_allclose(prior_correction(probs, COUNTS, COUNTS * 7), probs, rtol=1e-9)


def test_prior_correction_moves_towards_the_target() -> None:
    probs = np.array([[0.5, 0.3, 0.2]])
    out = prior_correction(probs, np.ones(3), np.array([1.0, 1.0, 8.0]))
    assert out.argmax() == 2 and np.isclose(out.sum(), 1.0)


def test_estimate_prior_recovers_a_shifted_source() -> None:
    rng = np.random.default_rng(0)
    true = np.array([0.1, 0.2, 0.7])
    y = rng.choice(3, size=4000, p=true)
    likelihood = np.full((3, 3), 0.15) + np.eye(3) * 0.55  # p(x-cluster | y)
    x = np.array([rng.choice(3, p=likelihood[k] / likelihood[k].sum()) for k in y])
    train_prior = np.ones(3) / 3
    posterior = likelihood.T[x] * train_prior
    posterior /= posterior.sum(1, keepdims=True)
    np.testing.assert_allclose(estimate_prior(posterior, train_prior), true, atol=0.05)
