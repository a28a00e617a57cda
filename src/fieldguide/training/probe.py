"""The linear probe: the heads fitted on cached embeddings (multinomial logistic regression with
L2), seconds on a CPU for a few dozen classes, hence monthly retraining.

Two optimisers minimise the same loss. Full-batch L-BFGS is exact and quick on small problems
(the main job's 12 flowers); past ``LBFGS_LIMIT`` photos x classes its dense float64 arrays
outgrow memory and its gradient tolerance, so ``optimiser="auto"`` switches to the streaming
mini-batch fit of ``fieldguide.training.headfit`` (SGD with momentum, or Adam on request;
float32, shard by shard, early stopping on the validation split). Either way a fit that
learned nothing raises :class:`NotLearned` instead of returning weights that a caller would
write as a model.

The fit is a pure function of arrays (NumPy and SciPy, no torch), so a probe on an encoder
that exists only as ONNX trains without PyTorch, and a PyTorch model's heads are the same fit
copied into its layers. The loss is :func:`fieldguide.models.heads.multi_head_loss`'s: the
sum over heads of the (class-weighted) cross-entropy, rank heads tied to the species head
through log-membership matrices, logit adjustment added to a head's logits while fitting.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import log_softmax, logsumexp

from fieldguide.models.card import HeadSpec
from fieldguide.training.headfit import (
    Features,
    Linear,
    NotLearned,
    StreamOptions,
    as_shards,
    fit_streaming,
)

if TYPE_CHECKING:
    from fieldguide.models.heads import FieldguideNet
    from fieldguide.training.spec import TrainSpec

__all__ = ["LBFGS_LIMIT", "OPTIMISERS", "Features", "Linear", "NotLearned", "ProbeFit",
           "StreamOptions", "check_learned", "fit_heads", "fit_linear_heads", "head_logits",
           "stream_options"]



@dataclass(frozen=True)
class ProbeFit:
    heads: dict[str, Linear]  # the linear (species and trait) heads; rank heads are tied
    loss: float
    iterations: int  # L-BFGS iterations, or mini-batch epochs
    optimiser: str = "lbfgs"
    history: list[dict[str, float]] = field(default_factory=list)  # mini-batch: per epoch


OPTIMISERS = ("auto", "lbfgs", "sgd", "adam")
#: ``auto`` fits by L-BFGS up to this many photos x classes (32 MB per dense float64 array).
LBFGS_LIMIT = 2_000_000
#: SciPy's projected-gradient tolerance suits a few classes; the per-weight gradient of the
#: mean loss shrinks like 1 / classes, so past this many classes the tolerance shrinks too.
_GTOL, _GTOL_CLASSES = 1e-5, 20


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


def fit_linear_heads(feats: Features, targets: np.ndarray, heads: list[HeadSpec],
                     membership: dict[str, np.ndarray], *, l2: float, max_iter: int,
                     class_weights: dict[str, np.ndarray | None] | None = None,
                     adjust: dict[str, np.ndarray] | None = None,
                     val: tuple[Features, np.ndarray] | None = None, optimiser: str = "auto",
                     options: StreamOptions | None = None,
                     start_from: dict[str, Linear] | None = None) -> ProbeFit:
    """Fit every head on (n, d) features (or row shards) and (n, heads) targets (-1: not
    labelled); raise :class:`NotLearned` when the primary head learned nothing.

    ``membership`` maps each rank head to its (species, groups) log-membership matrix; ``val``
    (features, targets) stops the mini-batch fit early; ``max_iter`` bounds L-BFGS;
    ``start_from``: a fine-tune's starting weights (weight (K, d), bias (K,)) of some heads, whose
    L2 penalty is then on the distance from them (both optimisers); a primary head started so
    is not checked for having learned (its few photos may be of one class).
    """
    if optimiser not in OPTIMISERS:
        raise ValueError(f"unknown optimiser {optimiser!r} (known: {', '.join(OPTIMISERS)})")
    shards = as_shards(feats)
    rows = sum(len(s) for s in shards)
    classes = sum(len(h.classes) for h in heads if h.kind != "rank")
    if optimiser == "auto":
        optimiser = "lbfgs" if rows * classes <= LBFGS_LIMIT else "sgd"
    if optimiser != "lbfgs":
        found = fit_streaming(shards, targets, heads, membership, l2=l2,
                              class_weights=class_weights, adjust=adjust, val=val,
                              options=replace(options or StreamOptions(), method=optimiser),
                              start_from=start_from)
        fit = ProbeFit(found.heads, found.loss, found.epochs, optimiser, found.history)
    else:
        x = shards[0] if len(shards) == 1 else np.concatenate(shards)
        fit = _fit_lbfgs(x, targets, heads, membership, l2=l2, max_iter=max_iter,
                         class_weights=class_weights, adjust=adjust, start_from=start_from)
    if heads[0].name not in (start_from or {}):  # a fine-tune starts from a learned head
        check_learned(fit, shards, targets, heads[0], (class_weights or {}).get(heads[0].name),
                      (adjust or {}).get(heads[0].name))
    return fit


def stream_options(spec: TrainSpec) -> StreamOptions:
    """The mini-batch fit's settings from a training spec's ``[probe]`` table."""
    return StreamOptions(epochs=spec.probe.epochs, device=spec.probe.device, seed=spec.seed)


def check_learned(fit: ProbeFit, shards: list[np.ndarray], targets: np.ndarray,
                  head: HeadSpec, weights: np.ndarray | None, shift: np.ndarray | None,
                  sample: int = 20_000, margin: float = 0.05) -> None:
    """Raise :class:`NotLearned` unless the primary head beats the class frequencies on (a
    sample of) the training rows: its top-1 at least ``margin`` of the way from the commonest
    class's share to 1, and its loss (as fitted: class weights, logit adjustment) below the
    best constant prediction's, the entropy of the weighted class frequencies.

    The loss test alone would refuse a heavily regularised fit (its probabilities stay near
    the frequencies while its ranking is right); the top-1 test catches the fit of issue 22,
    which stopped at ln(classes) with a top-1 of 0.006.
    """
    if head.name not in fit.heads:
        return
    y_all = np.asarray(targets)[:, 0]
    labelled = np.flatnonzero(y_all >= 0)
    if not len(labelled):
        return
    pick = labelled[np.linspace(0, len(labelled) - 1, min(sample, len(labelled))).astype(int)]
    starts = np.cumsum([0] + [len(s) for s in shards])
    x = np.concatenate([np.asarray(shards[i][pick[(pick >= a) & (pick < b)] - a], np.float32)
                        for i, (a, b) in enumerate(itertools.pairwise(starts))])
    y = y_all[pick]
    z = head_logits(fit, x, head.name).astype(np.float64)
    counts = np.bincount(y_all[labelled], minlength=len(head.classes)).astype(np.float64)
    w = np.ones(len(head.classes)) if weights is None else np.asarray(weights, np.float64)
    logp = log_softmax(z + (0.0 if shift is None else shift), axis=1)
    loss = float(-(w[y] * logp[np.arange(len(y)), y]).sum() / w[y].sum())
    q = counts * w / (counts * w).sum()
    constant = float(-(q[q > 0] * np.log(q[q > 0])).sum())
    top1 = float((z.argmax(axis=1) == y).mean())
    majority = float(counts.max() / counts.sum())
    if top1 < majority + margin * (1 - majority) or loss >= constant:
        raise NotLearned(
            f"the {head.name} head did not learn ({fit.optimiser}, {fit.iterations} "
            f"iterations): training top-1 {top1:.3f} against {majority:.3f} for always the "
            f"commonest class, loss {loss:.4f} against {constant:.4f} for the class "
            "frequencies alone; no model is written")


def _fit_lbfgs(x: np.ndarray, targets: np.ndarray, heads: list[HeadSpec],
               membership: dict[str, np.ndarray], *, l2: float, max_iter: int,
               class_weights: dict[str, np.ndarray | None] | None = None,
               adjust: dict[str, np.ndarray] | None = None,
               start_from: dict[str, Linear] | None = None) -> ProbeFit:
    """Full-batch L-BFGS in float64: exact and quick on small problems; ``start_from``: see
    :func:`fit_linear_heads`."""
    from scipy.optimize import minimize

    x = np.asarray(x, dtype=np.float64)
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
            off = w - anchor[name][0] if name in anchor else w
            loss += l2 * float((off**2).sum())
            grad += [(dlogits[name].T @ x + 2 * l2 * off).ravel(), dlogits[name].sum(axis=0)]
        return loss, np.concatenate(grad)

    anchor = {name: (np.asarray(w, np.float64), np.asarray(b, np.float64))
              for name, (w, b) in (start_from or {}).items()}
    theta0 = np.concatenate([
        np.concatenate([anchor[h.name][0].ravel(), anchor[h.name][1]]) if h.name in anchor
        else np.zeros(k * d + k) for h, k in zip(linear, sizes, strict=True)])
    gtol = _GTOL * min(1.0, _GTOL_CLASSES / max(sum(sizes), 1))
    found = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                     options={"maxiter": max_iter, "maxcor": 20, "gtol": gtol})
    fitted = {name: (w.astype(np.float32), b.astype(np.float32))
              for name, (w, b) in unpack(found.x).items()}
    return ProbeFit(fitted, float(found.fun), int(found.nit))


def head_logits(fit: ProbeFit, feats: np.ndarray, name: str) -> np.ndarray:
    """One linear head's logits on (n, d) features."""
    w, b = fit.heads[name]
    return np.asarray(feats, dtype=np.float32) @ w.T + b


def fit_heads(model: FieldguideNet, feats: Features, targets: np.ndarray, *, l2: float,
              max_iter: int, class_weights: dict[str, np.ndarray | None] | None = None,
              adjust: dict[str, np.ndarray] | None = None,
              val: tuple[Features, np.ndarray] | None = None, optimiser: str = "auto",
              options: StreamOptions | None = None) -> float:
    """Fit a PyTorch model's heads in place (the same fit); return the final loss."""
    import torch

    membership = {h.name: getattr(model, f"rank_{h.name}").numpy()
                  for h in model.specs if h.kind == "rank"}
    fit = fit_linear_heads(feats, targets, model.specs, membership, l2=l2, max_iter=max_iter,
                           class_weights=class_weights, adjust=adjust, val=val,
                           optimiser=optimiser, options=options)
    with torch.no_grad():
        for name, (w, b) in fit.heads.items():
            layer = model.linear[name]
            assert isinstance(layer, torch.nn.Linear)
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
    return fit.loss
