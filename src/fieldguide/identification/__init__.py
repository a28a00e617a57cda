"""Identification (MISSION §5): batch annotation with an artefact's ONNX export, calibrated
probabilities at every rank, priors from place and season, rejection, walk-up decisions,
auto-validation and int8 quantisation.

Every front end (the CLI, the web service, the main job, the index) builds one
:class:`Identifier` and goes photos -> pixels (``fieldguide.models.pixels``) -> outputs
(the model) -> :func:`posterior` -> rows; a model trained on embeddings
(:class:`HeadsOnlyModel`) takes embedding vectors in place of pixels. NumPy, Pillow and ONNX
Runtime only: nothing here imports torch.
"""

from fieldguide.identification.annotate import (
    Annotation,
    annotate,
    combine_observations,
    decide_batch,
    finish,
)
from fieldguide.identification.calibration import (
    CalibrationReport,
    calibrate,
    ece,
    fit_temperature,
    nll,
)
from fieldguide.identification.class_values import ClassValues
from fieldguide.identification.classifier import Classifier
from fieldguide.identification.decision import (
    ClassTree,
    Decisions,
    Rule,
    class_tree,
    decide,
    rank_probabilities,
)
from fieldguide.identification.heads_only import HeadsOnlyModel
from fieldguide.identification.identifier import Answer, Identifier, IdentifyOptions
from fieldguide.identification.inputs import Photos, read_photos
from fieldguide.identification.posterior import (
    Context,
    Geofence,
    Posterior,
    Prior,
    PriorOutput,
    Subtree,
    posterior,
    softmax,
)
from fieldguide.identification.protocols import Rejection, Rejector
from fieldguide.identification.risk import RiskRow, risk_coverage, risk_table, threshold_for
from fieldguide.identification.runner import RunOptions, run_outputs

__all__ = [
    "Annotation",
    "Answer",
    "CalibrationReport",
    "ClassTree",
    "ClassValues",
    "Classifier",
    "Context",
    "Decisions",
    "Geofence",
    "HeadsOnlyModel",
    "Identifier",
    "IdentifyOptions",
    "Photos",
    "Posterior",
    "Prior",
    "PriorOutput",
    "Rejection",
    "Rejector",
    "RiskRow",
    "Rule",
    "RunOptions",
    "Subtree",
    "annotate",
    "calibrate",
    "class_tree",
    "combine_observations",
    "decide",
    "decide_batch",
    "ece",
    "finish",
    "fit_temperature",
    "nll",
    "posterior",
    "rank_probabilities",
    "read_photos",
    "risk_coverage",
    "risk_table",
    "run_outputs",
    "softmax",
    "threshold_for",
]
