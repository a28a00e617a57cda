"""The fitted rejection of unknown and unusable photos (seed 004's combination of
out-of-distribution measures) and its place in the model folder, torch-free.

A model trained on a few taxa answers with one of them for any photo; rejection says "I do not
know" instead. The scores of :mod:`~fieldguide.identification.ood_scores` are combined by a
small logistic model whose threshold is on the combined score (log-odds of "unknown");
photo quality (:mod:`~fieldguide.identification.quality`) rejects unusable photos first.
How the combiner is fitted is :mod:`~fieldguide.identification.rejector_fit`'s job.

:class:`FittedRejector` implements the :class:`~fieldguide.identification.protocols.Rejector`
protocol; it is stored as ``rejection.npz`` beside the card, whose ``extras["rejection"]``
holds the scores' names, the threshold and the fit report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.classifier import OnnxModel
from fieldguide.identification.ood_scores import SCORES, ScoreModel
from fieldguide.identification.protocols import Rejection
from fieldguide.identification.quality import QUALITY, QUALITY_RULES, quality_reasons
from fieldguide.inputs.files import atomic_path

FILE = "rejection.npz"


@dataclass
class FittedRejector:
    """The fitted rejection (implements the ``Rejector`` protocol)."""

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


def write_rejector_file(folder: Path, rejector: FittedRejector,
                        report: dict[str, Any]) -> dict[str, Any]:
    """Write ``rejection.npz`` into ``folder``; returns what the card holds of it (its
    ``extras["rejection"]``; a family card's ``rejection``)."""
    arrays, meta = rejector.to_files()
    with atomic_path(folder / FILE) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]
    return {**meta, "report": report}


def save_rejector(folder: Path, rejector: FittedRejector, report: dict[str, Any]) -> Path:
    """Write ``rejection.npz`` and the card's ``extras["rejection"]``."""
    from fieldguide.models.card import read_card, update_card

    meta = write_rejector_file(folder, rejector, report)
    update_card(folder, extras={**read_card(folder).extras, "rejection": meta})
    return folder / FILE


def load_rejector(clf: OnnxModel) -> FittedRejector:
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
