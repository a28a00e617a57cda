"""Rejection of unknown and unusable photos (seed 004's combination of out-of-distribution
measures), torch-free.

A model trained on a few taxa answers with one of them for any photo; rejection says "I do not
know" instead. Five scores, each a pure function of arrays (higher = less like the training
photos), are combined by a small logistic model:

- ``msp``: minus the maximum softmax probability of the raw logits (temperature 1, so
  calibration never moves rejection);
- ``energy``: minus the logsumexp of the logits;
- ``knn``: cosine distance to the k-th nearest training embedding (a subsample of at most
  20,000 is kept);
- ``mahalanobis``: distance to the closest class mean under one shared, shrunk covariance;
- ``imagenet``: the probability mass the backbone's frozen ImageNet head puts outside the
  ImageNet classes the training photos activate (a car, a screen, a person).

The combiner is fitted without outside data: a share of the training classes is held out
as pseudo-unknowns (in turn, over a few folds), the scores of the remaining classes are
refitted, and a logistic regression on standardised scores learns to tell held-out photos
from known ones. Its threshold is the quantile of the validation split's combined scores that
rejects the stated share (default 5%) of known photos.

Photo quality needs pixels: :func:`photo_quality` runs in the batch runner on each decoded
crop (the pseudo-output ``quality``) and fixed rules (:data:`QUALITY_RULES`) reject blurry,
too dark and too small photos before any unknown-taxon test.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import log_softmax, logsumexp

from fieldguide.errors import InputError

if TYPE_CHECKING:
    from fieldguide.identification.annotate import Rejection
    from fieldguide.identification.classifier import Classifier
    from fieldguide.identification.inputs import Photos

FILE = "rejection.npz"
QUALITY = "quality"
#: The columns of the ``quality`` pseudo-output.
QUALITY_COLUMNS = ("sharpness", "brightness", "dark_share", "shortest_side")
#: Quality rules, checked in order: (reason, column, reject when below / above, value).
#: Sharpness is the variance of the 4-neighbour Laplacian of the grey crop (0-255 scale):
#: every Oxford flower photo scores above 40, a Gaussian blur of sigma 3 below 10. Brightness
#: is the mean grey level; dark share the share of pixels below 16.
QUALITY_RULES = (("not usable: too small", "shortest_side", "below", 64.0),
                 ("not usable: too dark", "brightness", "below", 25.0),
                 ("not usable: too dark", "dark_share", "above", 0.85),
                 ("not usable: blurry", "sharpness", "below", 10.0))
SCORES = ("msp", "energy", "knn", "mahalanobis", "imagenet")
BANK_MAX = 20_000
K_NEIGHBOURS = 5
IMAGENET_MASS = 0.95  # the activated ImageNet classes hold this share of the train photos' mass


# ---------------------------------------------------------------- scores (pure functions)

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


def photo_quality(crops: np.ndarray, sides: Sequence[float] | None = None) -> np.ndarray:
    """(n, H, W, 3) uint8 crops -> (n, 4) :data:`QUALITY_COLUMNS`; ``sides`` the original
    photos' shortest sides (NaN when unknown)."""
    grey = crops.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    lap = (grey[:, 1:-1, :-2] + grey[:, 1:-1, 2:] + grey[:, :-2, 1:-1] + grey[:, 2:, 1:-1]
           - 4 * grey[:, 1:-1, 1:-1])
    out = np.empty((len(crops), len(QUALITY_COLUMNS)), dtype=np.float32)
    out[:, 0] = lap.reshape(len(crops), -1).var(axis=1)
    out[:, 1] = grey.reshape(len(crops), -1).mean(axis=1)
    out[:, 2] = (grey < 16).reshape(len(crops), -1).mean(axis=1)
    out[:, 3] = np.nan if sides is None else np.asarray(sides, dtype=np.float32)
    return out


def shortest_side(path: str) -> float:
    """The photo's shorter side from its header (no pixels decoded); NaN if unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return float(min(im.size))
    except (OSError, ValueError):
        return float("nan")


def quality_reasons(quality: np.ndarray) -> list[str]:
    """Per row the first failed :data:`QUALITY_RULES` reason, "" when usable (NaN passes)."""
    reasons = [""] * len(quality)
    for reason, column, side, value in reversed(QUALITY_RULES):
        v = quality[:, QUALITY_COLUMNS.index(column)]
        with np.errstate(invalid="ignore"):
            bad = v < value if side == "below" else v > value
        for i in np.flatnonzero(bad):
            reasons[i] = reason
    return reasons


# ---------------------------------------------------------------- the fitted score models

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


# ---------------------------------------------------------------- the combiner

def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2,
                 steps: int = 50) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2 logistic regression (Newton's method; a few features)."""
    n, d = x.shape
    a = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = l2 * np.eye(d + 1)
    reg[d, d] = 0.0
    pos = max(y.mean(), 1e-9)
    sample = np.where(y == 1, 0.5 / pos, 0.5 / max(1 - pos, 1e-9))  # balance the two groups
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-a @ w))
        grad = a.T @ (sample * (p - y)) / n + reg @ w
        hess = (a * (sample * p * (1 - p))[:, None]).T @ a / n + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:d], float(w[d])


def fit_nonnegative(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """The logistic fit with every weight >= 0 (a score with a negative weight is dropped and
    the rest refitted). Every score means "less familiar" when higher; a negative weight only
    fits an artefact of the pseudo-unknowns (their logits were trained as negatives, so
    energy alone over-separates them) and would let a car through on the kNN distance."""
    use = np.ones(x.shape[1], dtype=bool)
    while True:
        w, bias = fit_logistic(x[:, use], y)
        if (w >= 0).all():
            weights = np.zeros(x.shape[1])
            weights[use] = w
            return weights, bias
        use[np.flatnonzero(use)[w < 0]] = False


def auroc(scores_in: np.ndarray, scores_out: np.ndarray) -> float:
    """Probability that an unknown photo scores above a known one (ties count half)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([scores_in, scores_out]))
    n_in, n_out = len(scores_in), len(scores_out)
    return float((ranks[n_in:].sum() - n_out * (n_out + 1) / 2) / (n_in * n_out))


@dataclass
class FittedRejector:
    """The fitted rejection (implements ``annotate.Rejector``)."""

    model: ScoreModel
    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float
    false_rejection: float
    quality: bool = True

    @property
    def outputs(self) -> tuple[str, ...]:
        needed = [n for n in ("embedding", "imagenet") if any(
            s in self.names for s in (("knn", "mahalanobis") if n == "embedding"
                                      else ("imagenet",)))]
        return (*needed, *((QUALITY,) if self.quality else ()))

    def ood_score(self, outputs: dict[str, np.ndarray]) -> np.ndarray:
        """The combined score (log-odds of "unknown"); the threshold is on this scale."""
        z = (self.model.scores(outputs, self.names) - self.mean) / self.scale
        return np.asarray(z @ self.weights + self.bias)

    def reject(self, outputs: dict[str, np.ndarray], ok: np.ndarray) -> Rejection:
        from fieldguide.identification.annotate import Rejection

        n = len(ok)
        safe = {k: np.where(ok[:, None], v, 0.0) for k, v in outputs.items() if v.ndim == 2}
        score = np.where(ok, self.ood_score(safe), np.nan)
        reasons = quality_reasons(outputs[QUALITY]) if QUALITY in outputs else [""] * n
        rejected = np.zeros(n, dtype=bool)
        for i in range(n):
            if not ok[i]:
                reasons[i] = ""
                continue
            if not reasons[i] and score[i] > self.threshold:
                reasons[i] = "unknown taxon"
            rejected[i] = bool(reasons[i])
        return Rejection(score, rejected, reasons)

    def to_files(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {"bank": self.model.bank, "means": self.model.means,
                  "precision": self.model.precision, "activated": self.model.activated,
                  "mean": self.mean, "scale": self.scale, "weights": self.weights}
        meta = {"file": FILE, "scores": list(self.names), "bias": self.bias,
                "threshold": self.threshold, "false_rejection": self.false_rejection,
                "quality": self.quality, "quality_rules": [list(r) for r in QUALITY_RULES]}
        return arrays, meta


def save_rejector(folder: Path, rejector: FittedRejector, report: dict[str, Any]) -> Path:
    """Write ``rejection.npz`` and the card's ``extras["rejection"]``."""
    import os

    from fieldguide.models.card import read_card, update_card

    arrays, meta = rejector.to_files()
    tmp = folder / f".{FILE}.tmp.npz"
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, folder / FILE)
    extras = {**read_card(folder).extras, "rejection": {**meta, "report": report}}
    update_card(folder, extras=extras)
    return folder / FILE


def load_rejector(clf: Classifier) -> FittedRejector:
    """The rejection a model folder carries (its card's ``extras["rejection"]``)."""
    meta = clf.card.extras["rejection"]
    path = clf.folder / FILE
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        model = ScoreModel(a["bank"], a["means"], a["precision"], a["activated"])
        names = tuple(str(s) for s in meta["scores"])
        if any(s not in SCORES for s in names) or len(names) != len(a["weights"]):
            raise ValueError("scores")
        return FittedRejector(model, names, a["mean"], a["scale"], a["weights"],
                              float(meta["bias"]), float(meta["threshold"]),
                              float(meta["false_rejection"]), bool(meta.get("quality", True)))
    except FileNotFoundError:
        raise InputError("the card names a rejection but its file is missing (run "
                         "`fieldguide reject fit` again)", path=path) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"unreadable rejection ({exc})", path=path,
                         field="extras.rejection") from None


def available_scores(outputs: Sequence[str]) -> tuple[str, ...]:
    """The scores a model's outputs allow."""
    names = ["msp", "energy"]
    if "embedding" in outputs:
        names += ["knn", "mahalanobis"]
    if "imagenet" in outputs:
        names.append("imagenet")
    return tuple(names)


def fit_rejector(train: dict[str, np.ndarray], y_train: np.ndarray,
                 val: dict[str, np.ndarray], y_val: np.ndarray, *,
                 false_rejection: float = 0.05, holdout: float = 0.25, folds: int = 4,
                 seed: int = 0) -> tuple[FittedRejector, dict[str, Any]]:
    """Fit the combiner on pseudo-unknowns (held-out training classes, in ``folds`` turns),
    then the final score models on every class, and the threshold on the validation split."""
    if not 0 < false_rejection < 1:
        raise InputError("must be in (0, 1)", field="false_rejection")
    classes = np.unique(y_train)
    if len(classes) < 2:
        raise InputError("rejection needs at least two classes with training photos")
    names = available_scores(list(train))
    rng = np.random.default_rng(seed)
    n_out = max(1, round(holdout * len(classes)))
    xs, ys = [], []
    for fold in range(folds):
        out = rng.choice(classes, n_out, replace=False) if fold else classes[:n_out]
        known = ~np.isin(classes, out)
        tr, va = ~np.isin(y_train, out), ~np.isin(y_val, out)
        sub = ScoreModel.fit({k: v[tr] for k, v in train.items()}, y_train[tr], seed)
        cols = np.flatnonzero(known)
        xs += [sub.scores({k: v[va] for k, v in val.items()}, names, cols),
               sub.scores({k: np.concatenate([v[~tr], val[k][~va]]) for k, v in train.items()},
                          names, cols)]
        ys += [np.zeros(int(va.sum())), np.ones(int((~tr).sum() + (~va).sum()))]
    x, y = np.concatenate(xs), np.concatenate(ys)
    mean, scale = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-12)
    weights, bias = fit_nonnegative((x - mean) / scale, y)
    model = ScoreModel.fit(train, y_train, seed)
    rejector = FittedRejector(model, names, mean, scale, weights, bias, np.inf, false_rejection)
    val_score = rejector.ood_score(val)
    rejector.threshold = float(np.quantile(val_score, 1 - false_rejection))
    z = (x - mean) / scale
    per_score: dict[str, float] = {n: auroc(z[y == 0, j], z[y == 1, j])
                                   for j, n in enumerate(names)}
    report: dict[str, Any] = {"pseudo_unknown_auroc": per_score,
              "weights": dict(zip(names, weights.tolist(), strict=True)),
              "val_false_rejection": float((val_score > rejector.threshold).mean()),
              "val_photos": len(y_val), "train_photos": len(y_train)}
    per_score["combined"] = auroc(z[y == 0] @ weights, z[y == 1] @ weights)
    return rejector, report


def labelled_outputs(model: Classifier, photos: Photos, work: Path,
                     names: Sequence[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Outputs and class indices of the labelled photos that decoded (known classes only)."""
    import shutil

    from fieldguide.identification.runner import RunOptions, run_outputs

    outputs, errors, _ = run_outputs(photos, model, work, RunOptions(), ("logits", *names))
    shutil.rmtree(work, ignore_errors=True)
    index = {c: i for i, c in enumerate(model.classes)}
    keep = np.array([not e and lab in index for e, lab in zip(errors, photos.label,
                                                               strict=True)], dtype=bool)
    y = np.array([index.get(lab, -1) for lab in photos.label])[keep]
    return {k: v[keep] for k, v in outputs.items()}, y


def fit_model_rejector(folder: Path, manifest: Path, *, false_rejection: float = 0.05,
                       train_split: str = "train", val_split: str = "val",
                       threads: int = 2) -> dict[str, Any]:
    """``fieldguide reject fit``: score the manifest's train and validation photos with the
    ONNX export, fit, and store the rejection in the model folder; returns the fit report."""
    from fieldguide.identification.classifier import Classifier
    from fieldguide.identification.inputs import read_photos

    clf = Classifier(folder, threads)
    names = [n for n in ("embedding", "imagenet") if n in clf.outputs]
    work = folder / ".reject.parts"
    got = {}
    for split in (train_split, val_split):
        photos = read_photos(manifest, split)
        if not len(photos):
            raise InputError(f"no photo has split {split!r}", path=manifest, field="split")
        got[split] = labelled_outputs(clf, photos, work / split, names)
    rejector, report = fit_rejector(*got[train_split], *got[val_split],
                                    false_rejection=false_rejection)
    save_rejector(clf.folder, rejector, report)
    return report


def report_text(report: dict[str, Any]) -> str:
    aurocs = ", ".join(f"{k} {v:.3f}" for k, v in report["pseudo_unknown_auroc"].items())
    return (f"pseudo-unknown AUROC: {aurocs}; false rejection on validation "
            f"{report['val_false_rejection']:.1%} of {report['val_photos']} photos")


def rejection_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2)
