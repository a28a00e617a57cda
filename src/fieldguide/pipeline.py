"""The main job: run the pipeline's stages, in order, on a sample study.

Today it ingests the real samples (a labelled photo folder, iNaturalist exports, a GBIF archive,
Pl@ntNet crowd votes with their AI votes), aggregates the votes into labels with the Pl@ntNet
strategy, and leaves the study ready for its summary; each later stage adds its step here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fieldguide.ingest import ingest_dwca, ingest_image_folder, ingest_inat_csv, ingest_votes
from fieldguide.photo_pipeline import PhotoRun, photo_steps
from fieldguide.store import Study

Step = tuple[str, Callable[[Study], str]]


def sample_steps(data: Path) -> list[Step]:
    """The steps over the real samples under ``data`` (../shared/data), each giving a summary."""
    taylor = data / "observations" / "inat_flowering_taylor2019"
    crowd = data / "votes" / "plantnet_crowdswe_sample"
    return [
        (
            "ingest: oxford_flowers12 photos",
            lambda s: ingest_image_folder(s, data / "images" / "oxford_flowers12").summary(),
        ),
        (
            "ingest: iNaturalist export, Rudbeckia hirta",
            lambda s: ingest_inat_csv(s, taylor / "inat_rudbeckia_hirta.csv").summary(),
        ),
        (
            "ingest: iNaturalist export, Maianthemum canadense",
            lambda s: ingest_inat_csv(s, taylor / "inat_maianthemum_canadense.csv").summary(),
        ),
        (
            "ingest: GBIF archive, Amblyomma americanum",
            lambda s: ingest_dwca(
                s, data / "observations" / "gbif_dwca_amblyomma_sample"
            ).summary(),
        ),
        (
            "ingest: Pl@ntNet CrowdSWE votes",
            lambda s: ingest_votes(
                s,
                crowd / "answers" / "answers.json",
                authors=crowd / "aggregation" / "authors.txt",
                ai_answers=crowd / "aggregation" / "ai_answers.json",
                ai_scores=crowd / "aggregation" / "ai_scores.json",
            ).summary(),
        ),
        ("aggregate: Pl@ntNet strategy, AI vote when confident", aggregate_votes),
    ]


def aggregate_votes(study: Study, method: str = "plantnet", ai: str | None = "confident") -> str:
    """Aggregate the study's votes and store the labels under ``method``."""
    from fieldguide.votes import create
    from fieldguide.votes.study import save_labels, votes_from_study

    votes = votes_from_study(study)
    strategy = create(method, **({"ai": ai} if ai else {})).fit(votes)
    save_labels(study, method, votes, strategy)
    validated = int(strategy.validated_.sum())
    return (
        f"{method}: {votes.n_tasks:,} observations, {votes.n_votes:,} votes, "
        f"{validated:,} validated ({validated / votes.n_tasks:.1%})"
    )


def run_sample_study(
    study: Study,
    data: Path,
    on_step: Callable[[str, str], None] | None = None,
    photos: Path | None = None,
    out: Path | None = None,
    backbones: list[str] | None = None,
) -> PhotoRun | None:
    """Run every step (what was done before is skipped, so a rerun resumes). With ``photos``
    and ``out``, the photo pipeline (dataset, model, evaluation, calibration, identification)
    runs first, writing under ``out``, in place of the sample folder's plain ingestion; its
    probe is trained on ``backbones`` (default ``lite0``; several: concatenated)."""
    steps = sample_steps(data)
    run = None
    if photos is not None and out is not None:
        run = PhotoRun(out, backbones or ["lite0"])
        steps = photo_steps(photos, run) + steps[1:]
    for name, step in steps:
        text = step(study)
        if on_step is not None:
            on_step(name, text)
    return run
