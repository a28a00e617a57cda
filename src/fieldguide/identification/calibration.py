"""Temperature scaling (Guo et al. 2017): one scalar T divides the logits so that the
probabilities mean what they say, fitted on a validation split by minimising the negative
log-likelihood. Auto-validation thresholds are only trustworthy on calibrated probabilities
(Naturalis, seed 004). Accuracy never changes: T > 0 keeps the arg-max.

With a place-and-season prior the probabilities a decision sees are the prior's combination
of the tempered vision scores, so T is fitted on that combined output (NLL of
prior(softmax(logits / T))), and the ECE is reported for vision alone, with the prior at
T = 1, and with the prior at the fitted T.

With a :class:`~fieldguide.identification.groups.GroupSpec` the same calibrated probabilities
also choose a threshold per taxon group (:mod:`~fieldguide.identification.groups`), stored in
the card beside T; calibrating without one drops any earlier group thresholds, which were
chosen on probabilities at the old T."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.classifier import Classifier, OnnxModel
from fieldguide.identification.groups import KEY, GroupSpec, GroupThresholds, fit_group_thresholds
from fieldguide.identification.inputs import Photos
from fieldguide.identification.posterior import Context, Prior, softmax
from fieldguide.identification.runner import RunOptions, decoded_batches, score
from fieldguide.models.card import update_card


def nll(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true classes at temperature T."""
    z = logits.astype(np.float64) / temperature
    top = z.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(y)), y]))


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The T in [0.05, 20] with the lowest NLL (bounded search on log T: smooth, 1-D)."""
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda t: nll(logits, y, float(np.exp(t))),
                          bounds=(np.log(0.05), np.log(20.0)), method="bounded",
                          options={"xatol": 1e-5})
    return float(np.exp(res.x))


Combiner = Callable[[np.ndarray], np.ndarray]


def combined_nll(logits: np.ndarray, y: np.ndarray, combine: Combiner,
                 temperature: float = 1.0) -> float:
    """Mean NLL of the true classes in ``combine(softmax(logits / T))`` (a prior's output)."""
    probs = combine(softmax(logits, temperature))
    return float(-np.mean(np.log(np.maximum(probs[np.arange(len(y)), y], 1e-300))))


def fit_combined_temperature(logits: np.ndarray, y: np.ndarray, combine: Combiner) -> float:
    """As :func:`fit_temperature`, for the probabilities after the prior."""
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda t: combined_nll(logits, y, combine, float(np.exp(t))),
                          bounds=(np.log(0.05), np.log(20.0)), method="bounded",
                          options={"xatol": 1e-4})
    return float(np.exp(res.x))


def ece(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """The evaluation stage's expected calibration error (same bins, same numbers)."""
    from fieldguide.evaluation.metrics import expected_calibration_error

    pred = np.argmax(probs, axis=1)
    return expected_calibration_error(probs[np.arange(len(y)), pred], pred == y, bins)


def labelled_logits(photos: Photos, model: Classifier,
                    options: RunOptions) -> tuple[np.ndarray, np.ndarray]:
    """Logits and class indices of the labelled photos that decode (others are skipped)."""
    logits, y, _ = _labelled(photos, model, options)
    return logits, y


def _labelled(photos: Photos, model: Classifier,
              options: RunOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As :func:`labelled_logits`, with the mask of the photos kept."""
    index = {c: i for i, c in enumerate(model.classes)}
    unknown = sorted({x for x in photos.label if x not in index})
    if unknown:
        raise InputError(f"label {unknown[0]!r} is not a class of the model", field="label")
    chunks, errors = [], []
    with ThreadPoolExecutor(options.decode_workers) as pool:
        for batch in decoded_batches(photos.path, model, options, pool):
            got, why = score(batch, model)
            chunks.append(got["logits"])
            errors += why
    ok = np.array([not e for e in errors], dtype=bool)
    y = np.array([index[x] for x in photos.label], dtype=np.int64)
    return np.concatenate(chunks)[ok], y[ok], ok


@dataclass(frozen=True)
class CalibrationReport:
    temperature: float
    n: int
    accuracy: float
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    #: with a prior: its name, and top-1 / NLL / ECE with the prior at T = 1
    prior: str | None = None
    accuracy_prior: float | None = None
    nll_prior: float | None = None
    ece_prior: float | None = None
    #: the thresholds per group chosen on the same photos (``calibrate --groups-at``)
    groups: GroupThresholds | None = None

    def text(self) -> str:
        if self.groups is not None:
            return f"{replace(self, groups=None).text()}\n{self.groups.text()}"
        if self.prior is None:
            return (f"T = {self.temperature:.4f} on {self.n} photos (top-1 "
                    f"{self.accuracy:.3f}): NLL {self.nll_before:.4f} -> {self.nll_after:.4f}, "
                    f"ECE {self.ece_before:.4f} -> {self.ece_after:.4f}")
        return (f"T = {self.temperature:.4f} fitted after the {self.prior} on {self.n} photos: "
                f"top-1 {self.accuracy:.3f} (vision) -> {self.accuracy_prior:.3f} (with prior); "
                f"NLL {self.nll_before:.4f} (vision) -> {self.nll_prior:.4f} (prior, T=1) -> "
                f"{self.nll_after:.4f} (prior, T); ECE {self.ece_before:.4f} (vision) -> "
                f"{self.ece_prior:.4f} (prior, T=1) -> {self.ece_after:.4f} (prior, T)")


def calibration_report(logits: np.ndarray, y: np.ndarray, temperature: float) -> CalibrationReport:
    """Before/after figures for a temperature (on the fitting split or a held-out one)."""
    p1, pt = softmax(logits), softmax(logits, temperature)
    return CalibrationReport(temperature, len(y), float(np.mean(p1.argmax(1) == y)),
                             nll(logits, y), nll(logits, y, temperature), ece(p1, y), ece(pt, y))


def prior_report(logits: np.ndarray, y: np.ndarray, combine: Combiner,
                 name: str) -> CalibrationReport:
    """Before/after figures with a prior, T fitted on the combined output."""
    t = fit_combined_temperature(logits, y, combine)
    p1, with_prior = softmax(logits), combine(softmax(logits))
    return replace(calibration_report(logits, y, t), prior=name,
                   accuracy_prior=float(np.mean(with_prior.argmax(1) == y)),
                   nll_prior=combined_nll(logits, y, combine),
                   nll_after=combined_nll(logits, y, combine, t), ece_before=ece(p1, y),
                   ece_prior=ece(with_prior, y), ece_after=ece(combine(softmax(logits, t)), y))


def calibrate(folder: Path, photos: Photos, options: RunOptions | None = None,
              threads: int = 2, prior: Prior | None = None,
              groups: GroupSpec | None = None) -> CalibrationReport:
    """Fit T on labelled photos and store it in ``model.json`` (temperature slot, with the
    figures under ``metrics.calibration``). With ``prior``, T is fitted on the prior's
    combination of the tempered vision scores, the photos' places and dates as context.
    With ``groups``, a threshold per taxon group is chosen too (``extras.group_thresholds``).
    """
    from fieldguide.identification.model import open_photo_model

    model = open_photo_model(folder, threads)
    logits, y, ok = _labelled(photos, model, options or RunOptions())
    return _fit(folder, model, logits, y, photos.context().take(np.flatnonzero(ok)), prior,
                groups)


def calibrate_embeddings(folder: Path, source: Path, split: str = "val", threads: int = 2,
                         prior: Prior | None = None,
                         groups: GroupSpec | None = None) -> CalibrationReport:
    """:func:`calibrate` for a heads-only model, on one split of an embeddings Parquet file or
    labelled store (its ``taxon`` column the labels; latitude, longitude and observed_on the
    prior's context, where present)."""
    from fieldguide.embeddings.external import read_embeddings
    from fieldguide.identification.heads_only import HeadsOnlyModel
    from fieldguide.identification.inputs import embedded_listing

    model = HeadsOnlyModel(folder, threads)
    data = read_embeddings(source, model.width)
    rows = data.rows(split)
    photos = embedded_listing({k: [v[i] for i in rows] for k, v in data.columns.items()},
                              data.path)
    index = {c: i for i, c in enumerate(model.classes)}
    unknown = sorted({x for x in photos.label if x not in index})
    if unknown:
        raise InputError(f"label {unknown[0]!r} is not a class of the model", path=data.path,
                         field="taxon")
    logits = model.run(data.vectors[rows], ["logits"])["logits"]
    y = np.array([index[x] for x in photos.label], dtype=np.int64)
    return _fit(folder, model, logits, y, photos.context(), prior, groups)


def _fit(folder: Path, model: OnnxModel, logits: np.ndarray, y: np.ndarray, context: Context,
         prior: Prior | None, groups: GroupSpec | None = None) -> CalibrationReport:
    """Fit T (after ``prior``, with ``context`` per row, when given), the thresholds per
    group (with ``groups``) on the probabilities at that T, and record them."""
    if len(y) == 0:
        raise InputError("no labelled photo decoded", path=folder)
    classes = model.classes
    if prior is None:
        report = calibration_report(logits, y, fit_temperature(logits, y))
        probs = softmax(logits, report.temperature)
    else:
        report = prior_report(logits, y, lambda p: prior.apply(p, context, classes).probs,
                              prior.name)
        probs = prior.apply(softmax(logits, report.temperature), context, classes).probs
    extras = {k: v for k, v in model.card.extras.items() if k != KEY}
    if groups is not None:
        fitted = fit_group_thresholds(probs, y, classes, model.card.lineage, groups.target,
                                      rank=groups.rank, clades=groups.clades,
                                      shrink=groups.shrink)
        extras[KEY] = fitted.to_dict()
        report = replace(report, groups=fitted)
    figures = {k: v for k, v in asdict(report).items() if k != "groups"}
    metrics = {**model.card.metrics, "calibration": figures}
    update_card(folder, temperature=report.temperature, metrics=metrics, extras=extras)
    return report
