"""Training: specs and presets, the data pipeline, imbalance tools, linear probe and
fine-tuning loops with checkpoints, and prediction over a manifest split.

Pure NumPy parts (``imbalance``) import without torch; the rest loads torch when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fieldguide.training.imbalance import (
        estimate_prior,
        logit_adjustment,
        loss_weights,
        prior_correction,
        sample_weights,
    )
    from fieldguide.training.manifest import Manifest, read_manifest
    from fieldguide.training.predict import SplitPredictions, predict, predict_split
    from fieldguide.training.presets import PRESETS
    from fieldguide.training.probe import NotLearned, fit_linear_heads
    from fieldguide.training.result import TrainResult
    from fieldguide.training.run import train
    from fieldguide.training.spec import TrainSpec, load_spec, parse_spec

_WHERE = {
    "Manifest": "manifest", "read_manifest": "manifest", "estimate_prior": "imbalance",
    "logit_adjustment": "imbalance", "loss_weights": "imbalance",
    "prior_correction": "imbalance", "sample_weights": "imbalance", "TrainResult": "result",
    "train": "run", "SplitPredictions": "predict", "predict": "predict",
    "predict_split": "predict", "PRESETS": "presets", "TrainSpec": "spec",
    "load_spec": "spec", "parse_spec": "spec", "NotLearned": "probe",
    "fit_linear_heads": "probe",
}
__all__ = [
    "PRESETS",
    "Manifest",
    "NotLearned",
    "SplitPredictions",
    "TrainResult",
    "TrainSpec",
    "estimate_prior",
    "fit_linear_heads",
    "load_spec",
    "logit_adjustment",
    "loss_weights",
    "parse_spec",
    "predict",
    "predict_split",
    "prior_correction",
    "read_manifest",
    "sample_weights",
    "train",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"fieldguide.training.{_WHERE[name]}"), name)
