"""Bring data into a study: one module per source format, each returning an IngestReport.

Every ingester validates first and writes in one transaction: a refused file leaves the study
exactly as it was. Re-ingesting the same content is recognised and skipped.
"""

from fieldguide.ingest.dwca import ingest_dwca
from fieldguide.ingest.gbif_csv import ingest_gbif_csv
from fieldguide.ingest.image_folder import ingest_image_folder
from fieldguide.ingest.inat_csv import ingest_inat_csv
from fieldguide.ingest.report import IngestReport, Rejection
from fieldguide.ingest.taxonomy_file import ingest_taxonomy
from fieldguide.ingest.traits import ingest_traits
from fieldguide.ingest.votes import ingest_votes

__all__ = [
    "IngestReport",
    "Rejection",
    "ingest_dwca",
    "ingest_gbif_csv",
    "ingest_image_folder",
    "ingest_inat_csv",
    "ingest_taxonomy",
    "ingest_traits",
    "ingest_votes",
]
