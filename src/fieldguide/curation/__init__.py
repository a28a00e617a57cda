"""Observations -> training sets: selection rules, splits and dataset statistics."""

from fieldguide.curation.statistics import ClassCount, imbalance_ratio, superclass_table
from fieldguide.curation.summary import StudySummary, plot_photos_per_taxon, summarise, to_markdown

__all__ = [
    "ClassCount",
    "StudySummary",
    "imbalance_ratio",
    "plot_photos_per_taxon",
    "summarise",
    "superclass_table",
    "to_markdown",
]
