"""Identification (MISSION §5): batch annotation with an artefact's ONNX export, calibrated
probabilities at every rank, walk-up decisions, auto-validation and int8 quantisation.

NumPy, Pillow and ONNX Runtime only: nothing here imports torch.
"""

from fieldguide.identification.annotate import (
    Annotation,
    Occurrences,
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
from fieldguide.identification.decision import (
    ClassTree,
    Decisions,
    Rule,
    class_tree,
    decide,
    geofence,
    nearby_classes,
    rank_probabilities,
)
from fieldguide.identification.decode import Crop, load_crop
from fieldguide.identification.inputs import Photos, read_photos
from fieldguide.identification.model import Classifier
from fieldguide.identification.risk import RiskRow, risk_coverage, risk_table, threshold_for
from fieldguide.identification.runner import RunOptions
from fieldguide.models.runtime import softmax

__all__ = [
    "Annotation", "CalibrationReport", "ClassTree", "Classifier", "Crop", "Decisions",
    "Occurrences", "Photos", "RiskRow", "Rule", "RunOptions", "annotate", "calibrate",
    "class_tree", "combine_observations", "decide", "ece", "finish", "fit_temperature",
    "geofence", "load_crop", "nearby_classes", "nll", "rank_probabilities", "read_photos",
    "risk_coverage", "risk_table", "softmax", "threshold_for",
]
