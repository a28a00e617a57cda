"""Out-of-distribution scores, each a pure function of arrays (higher = less like the
training photos), and :class:`ScoreModel`, what the embedding and ImageNet scores need fitted
on known-class photos:

- ``msp``: minus the maximum softmax probability of the raw logits (temperature 1, so
  calibration never moves rejection);
- ``energy``: minus the logsumexp of the logits;
- ``knn``: cosine distance to the k-th nearest training embedding (a subsample of at most
  20,000 is kept);
- ``mahalanobis``: distance to the closest class mean under one shared, shrunk covariance;
- ``imagenet``: the probability mass the backbone's frozen ImageNet head puts outside the
  ImageNet classes the training photos activate (a car, a screen, a person).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import log_softmax, logsumexp

SCORES = ("msp", "energy", "knn", "mahalanobis", "imagenet")
BANK_MAX = 20_000
K_NEIGHBOURS = 5
IMAGENET_MASS = 0.95  # the activated ImageNet classes hold this share of the train photos' mass

def msp_score(logits: np.ndarray) -> np.ndarray:
    """Minus the maximum softmax probability at temperature 1."""
    out: np.ndarray = -np.exp(log_softmax(logits.astype(np.float64), axis=1).max(axis=1))
    return out


def energy_score(logits: np.ndarray) -> np.ndarray:
    """Minus the logsumexp of the logits (Liu et al. 2020: low energy = familiar)."""
    out: np.ndarray = -logsumexp(logits.astype(np.float64), axis=1)
    return out


def unit_rows(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    out: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return out


def knn_score(embedding: np.ndarray, bank: np.ndarray, k: int = K_NEIGHBOURS) -> np.ndarray:
    """Cosine distance to the k-th nearest row of ``bank`` (unit rows), in blocks."""
    q = unit_rows(embedding)
    bank = bank if bank.dtype == np.float32 else bank.astype(np.float32)
    k = max(1, min(k, len(bank)))
    out = np.empty(len(q))
    for s in range(0, len(q), 1024):
        sim = q[s:s + 1024] @ bank.T
        out[s:s + 1024] = 1.0 - np.partition(sim, -k, axis=1)[:, -k]
    return out


def mahalanobis_score(embedding: np.ndarray, means: np.ndarray, precision: np.ndarray,
                      means_precision: np.ndarray | None = None) -> np.ndarray:
    """Squared Mahalanobis distance to the closest class mean (Lee et al. 2018);
    ``means_precision`` (means @ precision) may be given precomputed."""
    x = unit_rows(embedding).astype(np.float64)
    mp = means @ precision if means_precision is None else means_precision
    quad = ((x @ precision) * x).sum(axis=1)[:, None] - 2 * x @ mp.T \
        + (mp * means).sum(axis=1)[None, :]
    return np.asarray(quad.min(axis=1))


def imagenet_score(imagenet_logits: np.ndarray, activated: np.ndarray) -> np.ndarray:
    """Probability mass of the ImageNet head outside the classes the training photos
    activate: high for a car, a face or a screen, low for anything like the training taxa."""
    p = np.exp(log_softmax(imagenet_logits.astype(np.float64), axis=1))
    return np.asarray(1.0 - p[:, activated].sum(axis=1))


@dataclass
class ScoreModel:
    """What the embedding and ImageNet scores need, fitted on known-class photos."""

    bank: np.ndarray  # (m, D) unit train embeddings
    means: np.ndarray  # (K, D) class means of unit embeddings
    precision: np.ndarray  # (D, D) shrunk shared precision
    activated: np.ndarray  # ImageNet class indices the training photos activate

    @classmethod
    def fit(cls, outputs: dict[str, np.ndarray], y: np.ndarray,
            seed: int = 0) -> ScoreModel:
        emb = unit_rows(outputs["embedding"]) if "embedding" in outputs else np.zeros((len(y), 0))
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(emb), min(len(emb), BANK_MAX), replace=False))
        classes = np.unique(y)
        means = np.stack([emb[y == c].mean(axis=0) for c in classes]).astype(np.float64)
        centred = emb.astype(np.float64) - means[np.searchsorted(classes, y)]
        precision = _shrunk_precision(centred)
        activated = np.zeros(0, dtype=np.int64)
        if "imagenet" in outputs:
            logp = log_softmax(outputs["imagenet"].astype(np.float64), axis=1)
            mass = np.exp(logp).mean(axis=0)
            order = np.argsort(-mass)
            n = int(np.searchsorted(np.cumsum(mass[order]), IMAGENET_MASS)) + 1
            activated = np.sort(order[:n])
        return cls(emb[keep].astype(np.float16), means, precision, activated)

    @cached_property
    def bank32(self) -> np.ndarray:
        """The bank as float32, converted once (it is stored as float16)."""
        return self.bank.astype(np.float32)

    @cached_property
    def means_precision(self) -> np.ndarray:
        """means @ precision, computed once (the Mahalanobis score's constant part)."""
        return np.asarray(self.means @ self.precision)

    def scores(self, outputs: dict[str, np.ndarray], names: Sequence[str],
               columns: np.ndarray | None = None) -> np.ndarray:
        """(n, len(names)) scores; ``columns`` restricts the logits to known classes."""
        logits = outputs["logits"].astype(np.float64)
        if columns is not None:
            logits = logits[:, columns]
        funcs = {"msp": lambda: msp_score(logits), "energy": lambda: energy_score(logits),
                 "knn": lambda: knn_score(outputs["embedding"], self.bank32),
                 "mahalanobis": lambda: mahalanobis_score(outputs["embedding"], self.means,
                                                          self.precision,
                                                          self.means_precision),
                 "imagenet": lambda: imagenet_score(outputs["imagenet"], self.activated)}
        return np.stack([funcs[n]() for n in names], axis=1)


def _shrunk_precision(centred: np.ndarray) -> np.ndarray:
    """Inverse of the Ledoit-Wolf shrinkage of the covariance toward a scaled identity (the
    sample covariance of 1280-d features from a few hundred photos is singular)."""
    n, d = centred.shape
    if d == 0:
        return np.zeros((0, 0))
    cov = centred.T @ centred / n
    mu = np.trace(cov) / d
    delta = ((cov - mu * np.eye(d)) ** 2).sum() / d
    beta = (((centred ** 2).sum(axis=1) ** 2).sum() - n * (cov ** 2).sum()) / (n * n * d)
    shrink = min(1.0, max(0.0, beta / delta)) if delta > 0 else 1.0
    shrunk = shrink * mu * np.eye(d) + (1 - shrink) * cov
    return np.asarray(np.linalg.pinv(shrunk, hermitian=True))



def available_scores(outputs: Sequence[str]) -> tuple[str, ...]:
    """The scores a model's outputs allow."""
    names = ["msp", "energy"]
    if "embedding" in outputs:
        names += ["knn", "mahalanobis"]
    if "imagenet" in outputs:
        names.append("imagenet")
    return tuple(names)
