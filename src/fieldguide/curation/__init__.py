"""Observations -> training sets: selection rules, splits and dataset statistics.

``load_spec`` reads a dataset spec (TOML); ``build_dataset`` runs its steps on a study and writes
the manifest, class list and report; ``write_report`` re-renders a built dataset's report.
"""

from fieldguide.curation.build import BuildResult, StepRecord, build_dataset, select
from fieldguide.curation.report import write_report
from fieldguide.curation.rules import (
    ObserverCount,
    inat2017_split,
    phenology2,
    phenology4,
    stratified_counts,
    temporal_quotas,
)
from fieldguide.curation.spec import DatasetSpec, load_spec, parse_spec
from fieldguide.curation.statistics import ClassCount, imbalance_ratio, superclass_table
from fieldguide.curation.summary import StudySummary, plot_photos_per_taxon, summarise, to_markdown

__all__ = [
    "BuildResult",
    "ClassCount",
    "DatasetSpec",
    "ObserverCount",
    "StepRecord",
    "StudySummary",
    "build_dataset",
    "imbalance_ratio",
    "inat2017_split",
    "load_spec",
    "parse_spec",
    "phenology2",
    "phenology4",
    "plot_photos_per_taxon",
    "select",
    "stratified_counts",
    "summarise",
    "superclass_table",
    "temporal_quotas",
    "to_markdown",
    "write_report",
]
