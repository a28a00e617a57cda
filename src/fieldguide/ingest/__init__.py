"""Bring data into a study: one module per source format, each returning an IngestReport.

Every ingester validates first and writes in one transaction: a refused file leaves the study
exactly as it was. Re-ingesting the same content is recognised and skipped. The formats the
command line offers are registered in :data:`FORMATS` (see :mod:`fieldguide.ingest.format`);
:func:`record_verdict` writes one reviewer's verdict (the service's ``POST /v1/reviews``).
Names load lazily, so listing the formats imports no ingester (nor DuckDB).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fieldguide.ingest.dwca import ingest_dwca
    from fieldguide.ingest.format import FORMATS, IngestFormat, Param
    from fieldguide.ingest.gbif_csv import ingest_gbif_csv
    from fieldguide.ingest.image_folder import ingest_image_folder
    from fieldguide.ingest.inat_csv import ingest_inat_csv
    from fieldguide.ingest.report import IngestReport, Rejection
    from fieldguide.ingest.reviews import record_verdict
    from fieldguide.ingest.taxonomy_file import ingest_taxonomy
    from fieldguide.ingest.traits import ingest_traits
    from fieldguide.ingest.votes import ingest_votes

_WHERE = {
    "FORMATS": "format", "IngestFormat": "format", "Param": "format",
    "IngestReport": "report", "Rejection": "report",
    "ingest_dwca": "dwca", "ingest_gbif_csv": "gbif_csv",
    "ingest_image_folder": "image_folder", "ingest_inat_csv": "inat_csv",
    "ingest_taxonomy": "taxonomy_file", "ingest_traits": "traits", "ingest_votes": "votes",
    "record_verdict": "reviews",
}
__all__ = [
    "FORMATS",
    "IngestFormat",
    "IngestReport",
    "Param",
    "Rejection",
    "ingest_dwca",
    "ingest_gbif_csv",
    "ingest_image_folder",
    "ingest_inat_csv",
    "ingest_taxonomy",
    "ingest_traits",
    "ingest_votes",
    "record_verdict",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'fieldguide.ingest' has no attribute {name!r}")
    return getattr(importlib.import_module(f"fieldguide.ingest.{_WHERE[name]}"), name)
