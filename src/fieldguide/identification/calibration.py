"""Temperature scaling (Guo et al. 2017): one scalar T divides the logits so that the
probabilities mean what they say, fitted on a validation split by minimising the negative
log-likelihood. Auto-validation thresholds are only trustworthy on calibrated probabilities
(Naturalis, seed 004). Accuracy never changes: T > 0 keeps the arg-max."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.classifier import Classifier
from fieldguide.identification.inputs import Photos
from fieldguide.identification.posterior import softmax
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


def ece(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """The evaluation stage's expected calibration error (same bins, same numbers)."""
    from fieldguide.evaluation.metrics import expected_calibration_error

    pred = np.argmax(probs, axis=1)
    return expected_calibration_error(probs[np.arange(len(y)), pred], pred == y, bins)


def labelled_logits(photos: Photos, model: Classifier,
                    options: RunOptions) -> tuple[np.ndarray, np.ndarray]:
    """Logits and class indices of the labelled photos that decode (others are skipped)."""
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
    return np.concatenate(chunks)[ok], y[ok]


@dataclass(frozen=True)
class CalibrationReport:
    temperature: float
    n: int
    accuracy: float
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float

    def text(self) -> str:
        return (f"T = {self.temperature:.4f} on {self.n} photos (top-1 {self.accuracy:.3f}): "
                f"NLL {self.nll_before:.4f} -> {self.nll_after:.4f}, "
                f"ECE {self.ece_before:.4f} -> {self.ece_after:.4f}")


def calibration_report(logits: np.ndarray, y: np.ndarray, temperature: float) -> CalibrationReport:
    """Before/after figures for a temperature (on the fitting split or a held-out one)."""
    p1, pt = softmax(logits), softmax(logits, temperature)
    return CalibrationReport(temperature, len(y), float(np.mean(p1.argmax(1) == y)),
                             nll(logits, y), nll(logits, y, temperature), ece(p1, y), ece(pt, y))


def calibrate(folder: Path, photos: Photos, options: RunOptions | None = None,
              threads: int = 2) -> CalibrationReport:
    """Fit T on labelled photos and store it in ``model.json`` (temperature slot, with the
    figures under ``metrics.calibration``)."""
    model = Classifier(folder, threads)
    logits, y = labelled_logits(photos, model, options or RunOptions())
    if len(y) == 0:
        raise InputError("no labelled photo decoded", path=folder)
    report = calibration_report(logits, y, fit_temperature(logits, y))
    metrics = {**model.card.metrics, "calibration": asdict(report)}
    update_card(folder, temperature=report.temperature, metrics=metrics)
    return report
