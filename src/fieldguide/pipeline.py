"""The main job: run the pipeline's stages, in order, on a sample study.

Today it ingests the real samples (a labelled photo folder, iNaturalist exports, a GBIF archive,
crowd votes) and summarises the study; each later stage adds its step here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fieldguide.ingest import (
    IngestReport,
    ingest_dwca,
    ingest_image_folder,
    ingest_inat_csv,
    ingest_votes,
)
from fieldguide.store import Study


def sample_sources(data: Path) -> list[tuple[str, Callable[[Study], IngestReport]]]:
    """The real samples under ``data`` (../shared/data), as (name, ingest step) pairs."""
    taylor = data / "observations" / "inat_flowering_taylor2019"
    crowd = data / "votes" / "plantnet_crowdswe_sample"
    return [
        (
            "oxford_flowers12 photos",
            lambda s: ingest_image_folder(s, data / "images" / "oxford_flowers12"),
        ),
        (
            "iNaturalist export: Rudbeckia hirta",
            lambda s: ingest_inat_csv(s, taylor / "inat_rudbeckia_hirta.csv"),
        ),
        (
            "iNaturalist export: Maianthemum canadense",
            lambda s: ingest_inat_csv(s, taylor / "inat_maianthemum_canadense.csv"),
        ),
        (
            "GBIF archive: Amblyomma americanum",
            lambda s: ingest_dwca(s, data / "observations" / "gbif_dwca_amblyomma_sample"),
        ),
        (
            "Pl@ntNet CrowdSWE votes",
            lambda s: ingest_votes(
                s,
                crowd / "answers" / "answers.json",
                authors=crowd / "aggregation" / "authors.txt",
                ai_answers=crowd / "aggregation" / "ai_answers.json",
                ai_scores=crowd / "aggregation" / "ai_scores.json",
            ),
        ),
    ]


def run_sample_study(
    study: Study,
    data: Path,
    on_step: Callable[[str, IngestReport], None] | None = None,
) -> list[IngestReport]:
    """Ingest every sample into the study (files ingested before are skipped)."""
    reports = []
    for name, step in sample_sources(data):
        reports.append(step(study))
        if on_step is not None:
            on_step(name, reports[-1])
    return reports
