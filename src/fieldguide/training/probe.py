"""The linear probe: the heads fitted on cached embeddings by full-batch L-BFGS (multinomial
logistic regression with L2), seconds on a CPU, hence monthly retraining.

The fit is a pure function of arrays (NumPy and SciPy, no torch), so a probe on an encoder
that exists only as ONNX trains without PyTorch, and a PyTorch model's heads are the same fit
copied into its layers. The loss is :func:`fieldguide.models.heads.multi_head_loss`'s: the
sum over heads of the (class-weighted) cross-entropy, rank heads tied to the species head
through log-membership matrices, logit adjustment added to a head's logits while fitting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import log_softmax, logsumexp

from fieldguide.models.card import HeadSpec

if TYPE_CHECKING:
    from fieldguide.models.heads import FieldguideNet

#: A linear head as arrays: weight (K, d) and bias (K,).
Linear = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ProbeFit:
    heads: dict[str, Linear]  # the linear (species and trait) heads; rank heads are tied
    loss: float
    iterations: int


def _cross_entropy(z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> tuple[float,
                                                                               np.ndarray]:
    """Weighted mean cross-entropy of logits (rows with y < 0 ignored) and its gradient."""
    dz = np.zeros_like(z)
    rows = np.flatnonzero(y >= 0)
    logp = log_softmax(z[rows], axis=1)
    weight = np.ones(len(rows)) if w is None else w[y[rows]].astype(np.float64)
    total = weight.sum()
    loss = float(-(weight * logp[np.arange(len(rows)), y[rows]]).sum() / total)
    g = np.exp(logp)
    g[np.arange(len(rows)), y[rows]] -= 1.0
    dz[rows] = g * (weight / total)[:, None]
    return loss, dz


def _tied_rank(z: np.ndarray, y: np.ndarray, log_m: np.ndarray) -> tuple[float, np.ndarray]:
    """Cross-entropy of a rank head tied to the species logits z, and its gradient in z."""
    dz = np.zeros_like(z)
    rows = np.flatnonzero(y >= 0)
    logp = log_softmax(z[rows], axis=1)
    joint = logp + log_m[:, y[rows]].T  # log p_s where species s is in the photo's group
    lq = logsumexp(joint, axis=1)
    loss = float(-lq.mean())
    g = -np.exp(joint - lq[:, None]) / len(rows)  # d loss / d log p
    dz[rows] = g - np.exp(logp) * g.sum(axis=1, keepdims=True)
    return loss, dz


def fit_linear_heads(feats: np.ndarray, targets: np.ndarray, heads: list[HeadSpec],
                     membership: dict[str, np.ndarray], *, l2: float, max_iter: int,
                     class_weights: dict[str, np.ndarray | None] | None = None,
                     adjust: dict[str, np.ndarray] | None = None) -> ProbeFit:
    """Fit every head on (n, d) features and (n, heads) targets (-1: not labelled).

    ``membership`` maps each rank head to its (species, groups) log-membership matrix.
    """
    from scipy.optimize import minimize

    x = np.asarray(feats, dtype=np.float64)
    d = x.shape[1]
    linear = [h for h in heads if h.kind != "rank"]
    sizes = [len(h.classes) for h in linear]
    species = next((h.name for h in heads if h.kind == "species"), None)
    column = {h.name: i for i, h in enumerate(heads)}
    weights = {k: v for k, v in (class_weights or {}).items() if v is not None}
    shift = adjust or {}

    def unpack(theta: np.ndarray) -> dict[str, Linear]:
        out, at = {}, 0
        for h, k in zip(linear, sizes, strict=True):
            w = theta[at:at + k * d].reshape(k, d)
            b = theta[at + k * d:at + k * d + k]
            out[h.name], at = (w, b), at + k * d + k
        return out

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = unpack(theta)
        logits = {name: x @ w.T + b for name, (w, b) in params.items()}
        dlogits = {name: np.zeros_like(z) for name, z in logits.items()}
        loss = 0.0
        for h in heads:
            y = targets[:, column[h.name]].astype(np.int64)
            if not (y >= 0).any():
                continue
            if h.kind == "rank":
                if species is None:
                    raise ValueError("rank heads need a species head")
                part, dz = _tied_rank(logits[species], y, membership[h.name])
                dlogits[species] += dz
            else:
                z = logits[h.name] + shift[h.name] if h.name in shift else logits[h.name]
                part, dz = _cross_entropy(z, y, weights.get(h.name))
                dlogits[h.name] += dz
            loss += part
        grad = []
        for name, (w, _) in params.items():
            loss += l2 * float((w**2).sum())
            grad += [(dlogits[name].T @ x + 2 * l2 * w).ravel(), dlogits[name].sum(axis=0)]
        return loss, np.concatenate(grad)

    theta0 = np.zeros(sum(k * d + k for k in sizes))
    found = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                     options={"maxiter": max_iter, "maxcor": 20})
    fitted = {name: (w.astype(np.float32), b.astype(np.float32))
              for name, (w, b) in unpack(found.x).items()}
    return ProbeFit(fitted, float(found.fun), int(found.nit))


def head_logits(fit: ProbeFit, feats: np.ndarray, name: str) -> np.ndarray:
    """One linear head's logits on (n, d) features."""
    w, b = fit.heads[name]
    return np.asarray(feats, dtype=np.float32) @ w.T + b


def fit_heads(model: FieldguideNet, feats: np.ndarray, targets: np.ndarray, *, l2: float,
              max_iter: int, class_weights: dict[str, np.ndarray | None] | None = None,
              adjust: dict[str, np.ndarray] | None = None) -> float:
    """Fit a PyTorch model's heads in place (the same fit); return the final loss."""
    import torch

    membership = {h.name: getattr(model, f"rank_{h.name}").numpy()
                  for h in model.specs if h.kind == "rank"}
    fit = fit_linear_heads(feats, targets, model.specs, membership, l2=l2, max_iter=max_iter,
                           class_weights=class_weights, adjust=adjust)
    with torch.no_grad():
        for name, (w, b) in fit.heads.items():
            layer = model.linear[name]
            assert isinstance(layer, torch.nn.Linear)
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
    return fit.loss
