"""``fieldguide serve``: the identification service on uvicorn (docs/service.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fieldguide.cli.common import (
    CoarsestOption,
    FinestOption,
    GroupThresholdsOption,
    OccurrencesOption,
    PlaceFixesOption,
    PlaceListsOption,
    PriorOption,
    RadiusOption,
    RequireNearbyOption,
    ThresholdOption,
    ValidateRankOption,
    guarded,
)


def serve(
    model: Annotated[Path, typer.Argument(help="A model folder (model.json + model.onnx), or "
                                          "a family folder (family.json).")],
    prior: PriorOption = None,
    occurrences: OccurrencesOption = None,
    radius_km: RadiusOption = 50.0,
    threshold: ThresholdOption = 0.9,
    finest: FinestOption = "species",
    coarsest: CoarsestOption = "family",
    validate_rank: ValidateRankOption = "species",
    require_nearby: RequireNearbyOption = False,
    group_thresholds: GroupThresholdsOption = True,
    place_lists: PlaceListsOption = None,
    place_fixes: PlaceFixesOption = None,
    index: Annotated[Path | None, typer.Option(
        help="A search index (fieldguide index build): similar photos, candidates and "
        "each suggestion's reference photos.")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    allow_paths: Annotated[Path | None, typer.Option(
        help="Let POST /v1/identify/batch read photos inside this folder (off without).")
    ] = None,
    allow_hosts: Annotated[list[str] | None, typer.Option(
        "--allow-hosts", help="Let POST /v1/identify/batch fetch http(s) URLs on this host "
        "(repeat for several; none without).")] = None,
    study: Annotated[Path | None, typer.Option(
        "--study", "-s", help="The study reviewers' verdicts are written into (the review "
        "page at /review; needs --reviewers).")] = None,
    reviewers: Annotated[Path | None, typer.Option(
        help="Who may review: one 'name token' per line (needs --study).")] = None,
    review_manifest: Annotated[Path | None, typer.Option(
        help="A dataset manifest whose photos a curation rule flagged (needs_review): the "
        "review page's \"flagged for review\" queue (needs --study, --reviewers).")] = None,
    review_identifications: Annotated[Path | None, typer.Option(
        help="An identify output (its CSV or Parquet): the review page's \"not "
        "auto-validated\" queue (needs --study, --reviewers).")] = None,
) -> None:
    """Serve identification over HTTP, the model (and priors, index) loaded once; the
    answer-changing options are identify's."""
    import os

    # Before NumPy loads (the workers inherit it): the service's parallelism is across
    # requests, and OpenBLAS's own threads, waking for every micro-batch's rejection scores,
    # made those scores cost ten times their single-thread CPU (docs/benchmarks.md, issue
    # 27). The results are the same on any number of threads; an operator's setting wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import uvicorn

    from fieldguide.identification import IdentifyOptions
    from fieldguide.service.app import ENVIRONMENT, create_app, environment_json, log_to_stderr
    from fieldguide.service.state import Settings

    options = IdentifyOptions(threshold=threshold, finest=finest, coarsest=coarsest,
                              validate_rank=validate_rank, require_nearby=require_nearby,
                              prior=prior, occurrences=occurrences, radius_km=radius_km,
                              group_thresholds=group_thresholds, place_lists=place_lists,
                              place_fixes=place_fixes)
    guarded(options.rule)  # a bad rank fails here, before any worker starts
    settings = Settings(allow_paths=allow_paths,
                        allow_hosts=tuple(h.lower() for h in allow_hosts or ()))
    if workers == 1:
        log_to_stderr()
        app = guarded(lambda: create_app(model, index=index, settings=settings,
                                         options=options, study=study, reviewers=reviewers,
                                         review_manifest=review_manifest,
                                         review_identifications=review_identifications))
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
        return
    from fieldguide.service.review import open_desk

    # a bad file fails here, not per worker
    guarded(lambda: open_desk(study, reviewers, review_manifest, review_identifications))
    os.environ[ENVIRONMENT] = environment_json(model, index, settings, options, study,
                                               reviewers, review_manifest,
                                               review_identifications)
    uvicorn.run("fieldguide.service.app:from_environment", factory=True, host=host, port=port,
                workers=workers, log_level="info", access_log=False)
