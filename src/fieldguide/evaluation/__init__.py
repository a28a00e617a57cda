"""Evaluation of identification models: accuracy, average recall, per-class and per-group
breakdowns, calibration, two-model comparison and model-against-human tests (MISSION §4).

Pure NumPy/SciPy; matplotlib only inside the plotting functions."""

from fieldguide.evaluation.compare import ComparisonResult, compare_models, write_comparison
from fieldguide.evaluation.humans import HumansResult, analyse_humans, read_annotations
from fieldguide.evaluation.humans_report import write_humans_report
from fieldguide.evaluation.report import write_report
from fieldguide.evaluation.result import EvaluationResult, evaluate
from fieldguide.evaluation.stats import McNemarResult, TTestResult, mcnemar, one_sample_t

__all__ = [
    "ComparisonResult",
    "EvaluationResult",
    "HumansResult",
    "McNemarResult",
    "TTestResult",
    "analyse_humans",
    "compare_models",
    "evaluate",
    "mcnemar",
    "one_sample_t",
    "read_annotations",
    "write_comparison",
    "write_humans_report",
    "write_report",
]
