"""Identification (MISSION §5): batch annotation with an artefact's ONNX export, calibrated
probabilities at every rank, priors from place and season, rejection, walk-up decisions,
auto-validation and int8 quantisation.

Every front end (the CLI, the web service, the Ray engine) goes photos -> pixels
(``fieldguide.models.pixels``) -> outputs (:class:`Classifier`) -> :func:`posterior` -> rows.
NumPy, Pillow and ONNX Runtime only: nothing here imports torch.
"""

from fieldguide.identification.annotate import (
    Annotation,
    Rejection,
    Rejector,
    annotate,
    combine_observations,
    finish,
)
from fieldguide.identification.calibration import (
    CalibrationReport,
    calibrate,
    ece,
    fit_temperature,
    nll,
)
from fieldguide.identification.classifier import Classifier
from fieldguide.identification.decision import (
    ClassTree,
    Decisions,
    Rule,
    class_tree,
    decide,
    rank_probabilities,
)
from fieldguide.identification.inputs import Photos, read_photos
from fieldguide.identification.posterior import (
    Context,
    Geofence,
    Posterior,
    Prior,
    PriorOutput,
    posterior,
    softmax,
)
from fieldguide.identification.risk import RiskRow, risk_coverage, risk_table, threshold_for
from fieldguide.identification.runner import RunOptions, run_outputs

__all__ = [
    "Annotation", "CalibrationReport", "ClassTree", "Classifier", "Context", "Decisions",
    "Geofence", "Photos", "Posterior", "Prior", "PriorOutput", "Rejection", "Rejector",
    "RiskRow", "Rule", "RunOptions", "annotate", "calibrate", "class_tree",
    "combine_observations", "decide", "ece", "finish", "fit_temperature", "nll", "posterior",
    "rank_probabilities", "read_photos", "risk_coverage", "risk_table", "run_outputs",
    "softmax", "threshold_for",
]
