"""Class imbalance: sampling weights, loss weights, logit adjustment and prior correction.

All pure NumPy functions of class counts or probabilities, so each is tested on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from fieldguide.training.manifest import Manifest
    from fieldguide.training.spec import TrainSpec


def sample_weights(labels: np.ndarray, counts: np.ndarray, mode: str) -> np.ndarray:
    """Per-photo sampling weights: uniform over photos, class-balanced (each class equally
    often) or sqrt (between the two, as in Mahajan et al. 2018)."""
    counts = np.maximum(counts, 1).astype(np.float64)
    if mode == "uniform":
        per_class = np.ones_like(counts)
    elif mode == "class-balanced":
        per_class = 1.0 / counts
    elif mode == "sqrt":
        per_class = 1.0 / np.sqrt(counts)
    else:
        raise ValueError(f"unknown sampling {mode!r}")
    out: np.ndarray = per_class[labels] / per_class[labels].sum()
    return out


def loss_weights(counts: np.ndarray, mode: str, beta: float = 0.999) -> np.ndarray | None:
    """Cross-entropy class weights, mean 1: inverse frequency or the effective number of
    samples (1 - beta^n) / (1 - beta) of Cui et al. 2019; ``none`` gives None."""
    if mode == "none":
        return None
    n = np.maximum(counts, 1).astype(np.float64)
    if mode == "inverse":
        w = 1.0 / n
    elif mode == "effective":
        w = (1.0 - beta) / (1.0 - np.power(beta, n))
    else:
        raise ValueError(f"unknown loss weighting {mode!r}")
    out: np.ndarray = w * len(w) / w.sum()
    return out


def logit_adjustment(counts: np.ndarray, tau: float) -> np.ndarray:
    """tau * log(prior) added to the logits in the training loss only (Menon et al. 2021):
    the model then learns balanced scores, and its plain softmax suits a uniform prior."""
    prior = np.maximum(counts, 1) / np.maximum(counts, 1).sum()
    out: np.ndarray = tau * np.log(prior)
    return out


def prior_correction(probs: np.ndarray, train_prior: np.ndarray,
                     target_prior: np.ndarray) -> np.ndarray:
    """Adapt probabilities to another source's class frequencies without retraining
    (Saerens et al. 2002): p'(y|x) is proportional to p(y|x) * target(y) / train(y)."""
    train_prior = np.asarray(train_prior, dtype=np.float64)
    target_prior = np.asarray(target_prior, dtype=np.float64)
    ratio = (target_prior / target_prior.sum()) / np.maximum(train_prior / train_prior.sum(),
                                                                1e-12)
    scaled = np.asarray(probs, dtype=np.float64) * ratio[None, :]
    out: np.ndarray = scaled / np.maximum(scaled.sum(axis=1, keepdims=True), 1e-300)
    return out


def estimate_prior(probs: np.ndarray, train_prior: np.ndarray, iterations: int = 100,
                   tol: float = 1e-8) -> np.ndarray:
    """A source's class frequencies from unlabelled predictions (Saerens EM): the prior that
    ``prior_correction`` should use when the source's counts are unknown."""
    prior: np.ndarray = np.asarray(train_prior, dtype=np.float64) / np.sum(train_prior)
    for _ in range(iterations):
        new: np.ndarray = prior_correction(probs, train_prior, prior).mean(axis=0)
        if np.abs(new - prior).max() < tol:
            return new
        prior = new
    return prior


def imbalance_terms(spec: TrainSpec, data: Manifest) -> tuple[dict[str, np.ndarray | None],
                                                               dict[str, np.ndarray]]:
    """Class weights and logit adjustments per head (rank heads: tied, left alone)."""
    weights: dict[str, np.ndarray | None] = {}
    adjust: dict[str, np.ndarray] = {}
    for i, h in enumerate(data.heads):
        if h.kind == "rank":
            continue
        counts = data.counts(i)
        weights[h.name] = loss_weights(counts, spec.imbalance.loss_weights, spec.imbalance.beta)
        if spec.imbalance.logit_adjust:
            adjust[h.name] = logit_adjustment(counts, spec.imbalance.logit_adjust)
    return weights, adjust
