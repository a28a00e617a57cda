"""Fitting the rejection over a manifest, without outside data: a share of the training
classes is held out as pseudo-unknowns (in turn, over a few folds), the scores of the
remaining classes are refitted, and a logistic regression on standardised scores learns to
tell held-out photos from known ones. Its threshold is the quantile of the validation split's
combined scores that rejects the stated share (default 5%) of known photos.
The fitted object and its file are :mod:`~fieldguide.identification.rejector`'s."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.classifier import Classifier
from fieldguide.identification.inputs import Photos, read_photos
from fieldguide.identification.model import open_photo_model
from fieldguide.identification.ood_scores import ScoreModel, available_scores
from fieldguide.identification.rejector import FittedRejector, save_rejector
from fieldguide.identification.runner import RunOptions, run_outputs


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


def fit_rejector(train: dict[str, np.ndarray], y_train: np.ndarray,
                 val: dict[str, np.ndarray], y_val: np.ndarray, *,
                 false_rejection: float = 0.05, holdout: float = 0.25, folds: int = 4,
                 seed: int = 0, scores: Sequence[str] | None = None
                 ) -> tuple[FittedRejector, dict[str, Any]]:
    """Fit the combiner on pseudo-unknowns (held-out training classes, in ``folds`` turns),
    then the final score models on every class, and the threshold on the validation split.
    ``scores``: those of the outputs' scores to combine (default: every one they allow)."""
    if not 0 < false_rejection < 1:
        raise InputError("must be in (0, 1)", field="false_rejection")
    classes = np.unique(y_train)
    if len(classes) < 2:
        raise InputError("rejection needs at least two classes with training photos")
    names = available_scores(list(train))
    if scores is not None:
        names = tuple(n for n in names if n in scores)
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


def labelled_outputs(model: Classifier, photos: Photos, work: Path, names: Sequence[str],
                     store: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Outputs and class indices of the labelled photos that decoded (known classes only):
    ``embedding`` from the embedding store ``store`` (its writer computes the photos it
    lacks), the other outputs by the runner, as ``identify`` computes them."""
    from fieldguide.embeddings.build import OUTPUT, embed_photos, photo_keys

    options = RunOptions()
    others = ("logits", *(n for n in names if n != OUTPUT))
    outputs, errors, _ = run_outputs(photos, model, work, options, others)
    shutil.rmtree(work, ignore_errors=True)
    if OUTPUT in names:
        vectors, found = embed_photos(model, photos, store, options).gather(photo_keys(photos))
        outputs[OUTPUT] = vectors
        errors = [e or ("" if f else "not embedded") for e, f in zip(errors, found,
                                                                       strict=True)]
    index = {c: i for i, c in enumerate(model.classes)}
    keep = np.array([not e and lab in index for e, lab in zip(errors, photos.label,
                                                               strict=True)], dtype=bool)
    y = np.array([index.get(lab, -1) for lab in photos.label])[keep]
    return {k: outputs[k][keep] for k in ("logits", *names)}, y  # the scores' order


def fit_model_rejector(folder: Path, manifest: Path, *, false_rejection: float = 0.05,
                       train_split: str = "train", val_split: str = "val",
                       threads: int = 2, store: Path | None = None) -> dict[str, Any]:
    """``fieldguide reject fit``: score the manifest's train and validation photos with the
    ONNX export, fit, and store the rejection in the model folder; returns the fit report.
    The photos' embeddings are read from (and missing ones written through) the embedding
    store ``store`` (one built by ``fieldguide embed`` with this model, say), by default a
    temporary one removed afterwards."""
    clf = open_photo_model(folder, threads)
    names = [n for n in ("embedding", "imagenet") if n in clf.outputs]
    work = folder / ".reject.parts"
    got = {}
    for split in (train_split, val_split):
        photos = read_photos(manifest, split)
        if not len(photos):
            raise InputError(f"no photo has split {split!r}", path=manifest, field="split")
        got[split] = labelled_outputs(clf, photos, work / split, names,
                                      store if store is not None else work / "store")
    shutil.rmtree(work, ignore_errors=True)
    rejector, report = fit_rejector(*got[train_split], *got[val_split],
                                    false_rejection=false_rejection)
    save_rejector(clf.folder, rejector, report)
    return report


def report_text(report: dict[str, Any]) -> str:
    aurocs = ", ".join(f"{k} {v:.3f}" for k, v in report["pseudo_unknown_auroc"].items())
    return (f"pseudo-unknown AUROC: {aurocs}; false rejection on validation "
            f"{report['val_false_rejection']:.1%} of {report['val_photos']} photos")
