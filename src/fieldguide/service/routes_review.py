"""The review page and its routes: an expert goes through a queue of observations and each
verdict becomes one identification in the study (``fieldguide.ingest.reviews``). Three
queues: the observations reverse search ranks highest for a taxon (``--index``), those a
curation rule flagged for review (``--review-manifest``) and those whose model decision was
not auto-validated (``--review-identifications``). On with ``fieldguide serve -s STUDY
--reviewers FILE``; every route answers 404 without them.

The queues, their photos and the verdicts need ``Authorization: Bearer TOKEN`` (a token of
the reviewers file); the study's taxa do not. The page shows indexed photos through
``GET /v1/photos/{id}`` (``routes_page``) and the file-read queues' photos through
``GET /v1/reviews/photos/{id}``."""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from fieldguide.errors import InputError
from fieldguide.service.review import ReviewDesk
from fieldguide.service.routes import Svc

router = APIRouter()
PAGE = Path(__file__).parent / "static" / "review.html"


def desk(request: Request) -> ReviewDesk:
    """The app's review desk (404 when the service was started without a study)."""
    found: ReviewDesk | None = getattr(request.app.state, "reviews", None)
    if found is None:
        raise HTTPException(404, "reviews are off (start with -s STUDY --reviewers FILE)")
    return found


Desk = Annotated[ReviewDesk, Depends(desk)]


def reviewer(desk: Desk,
             authorization: Annotated[str | None, Header(max_length=1000)] = None) -> str:
    """The reviewer named by the request's bearer token; 401 without a valid one."""
    scheme, _, token = (authorization or "").partition(" ")
    name = desk.reviewers.who(token.strip()) if scheme.lower() == "bearer" else None
    if name is None:
        raise HTTPException(401, "a reviewer's token is needed: Authorization: Bearer TOKEN",
                            headers={"WWW-Authenticate": "Bearer"})
    return name


Reviewer = Annotated[str, Depends(reviewer)]


class ReviewIn(BaseModel):
    """One verdict: the observation and either the taxon it shows (agree, or another taxon)
    or ``"verdict": "unsure"``."""

    model_config = ConfigDict(extra="forbid")
    observation_id: str = Field(min_length=1, max_length=500)
    taxon: str | None = Field(None, min_length=1, max_length=200,
                              description="A taxon of the study (name or synonym).")
    verdict: Literal["unsure"] | None = Field(None, description="Instead of a taxon.")


class ReviewOut(BaseModel):
    """The identification written: worker = reviewer, taxon (null when unsure), time."""

    observation_id: str
    reviewer: str
    taxon: str | None
    verdict: Literal["taxon", "unsure"]
    created_at: str
    import_id: int


class StudyTaxon(BaseModel):
    taxon: str
    rank: str | None
    in_model: bool = Field(description="The index's model knows it (reverse search can "
                           "rank observations for it).")


class Queues(BaseModel):
    """Which queues this service offers: reverse search by taxon (an index is loaded), and
    how many observations the flagged and not auto-validated queues hold in all."""

    taxon: bool
    flagged: int
    unvalidated: int


class FlaggedOut(BaseModel):
    """An observation a curation rule flagged (``needs_review`` in the manifest)."""

    observation_id: str
    photo_ids: list[str]
    label: str = Field(description="The label the dataset gives it.")
    reasons: list[str] = Field(description="Why each rule flagged it, e.g. 'label noise "
                               "0.95 (suggested Bellis perennis)', 'anomaly 0.75'.")
    suggested: str | None = Field(description="The taxon label_noise suggests instead.")


class UnvalidatedOut(BaseModel):
    """An observation whose model decision was not auto-validated."""

    observation_id: str
    photo_ids: list[str]
    taxon: str | None = Field(description="The model's decision (null: no rank reached "
                              "the threshold, or rejected).")
    rank: str | None
    status: str = Field(description="rejected, not validated or no identification.")
    remarks: str = Field(description="The decision's evidence in words (probability, rank "
                         "walked up to, rejection).")


@router.get("/review", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(PAGE, media_type="text/html")


@router.get("/v1/reviews/me")
def me(who: Reviewer) -> dict[str, str]:
    """Who the token belongs to (the page checks a token with it)."""
    return {"reviewer": who}


@router.get("/v1/reviews/taxa")
def study_taxa(svc: Svc, desk: Desk, q: Annotated[str, Query(min_length=1, max_length=200)],
               limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[StudyTaxon]:
    """The study's taxa whose name contains ``q`` (an autocomplete)."""
    from fieldguide.ingest.reviews import search_taxa

    with desk.study(read_only=True) as study:
        found = search_taxa(study, q, limit)
    known = svc.index.taxa.rank if svc.index is not None else set(svc.classes)
    return [StudyTaxon(taxon=n, rank=r, in_model=n in known) for n, r in found]


@router.get("/v1/reviews/queue")
def queue(svc: Svc, desk: Desk, who: Reviewer,
          taxon: Annotated[str, Query(min_length=1, max_length=200)],
          min_score: Annotated[float, Query(ge=0, le=1)] = 0.5,
          limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[dict[str, Any]]:
    """The observations reverse search ranks highest for ``taxon`` that this reviewer has
    not yet given a verdict on, with their photos and nearest labelled neighbours."""
    if svc.index is None:
        raise HTTPException(404, "no index loaded (start with --index)")
    from fieldguide.ingest.reviews import reviewed_by
    from fieldguide.search import candidates

    with desk.study(read_only=True) as study:
        done = reviewed_by(study, who)
    try:
        rows = candidates(svc.index, taxon, min_score=min_score, exclude_reviewed=done,
                          limit=limit)
    except InputError as exc:
        raise HTTPException(422, exc.reason) from None
    photos = desk.observation_photos(svc.index)
    labels = desk.column(svc.index, "label")
    for row in rows:
        row["photo_ids"] = photos.get(row["observation_id"], [row["photo_id"]])
        near = []
        for item in filter(None, str(row.pop("neighbours")).split(";")):
            photo, _, similarity = item.rpartition(":")
            at = svc.index_row(photo)
            near.append({"photo_id": photo, "similarity": float(similarity),
                         "label": labels[at] if at is not None else ""})
        row["neighbours"] = near
        row.pop("neighbour_paths", None)
    return rows


@router.get("/v1/reviews/queues")
def queues(svc: Svc, desk: Desk, who: Reviewer) -> Queues:
    """The queues on offer (the page shows a choice of those that are on)."""
    return Queues(taxon=svc.index is not None, flagged=len(desk.flagged),
                  unvalidated=len(desk.unvalidated))


@router.get("/v1/reviews/flagged")
def flagged(desk: Desk, who: Reviewer,
            limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[FlaggedOut]:
    """The observations a curation rule flagged for review (``--review-manifest``) that this
    reviewer has not yet given a verdict on, in the manifest's order."""
    from fieldguide.ingest.reviews import reviewed_by

    with desk.study(read_only=True) as study:
        done = reviewed_by(study, who)
    rows = (f for f in desk.flagged if f.observation_id not in done)
    return [FlaggedOut(observation_id=f.observation_id, photo_ids=list(f.photo_ids),
                       label=f.label, reasons=list(f.reasons), suggested=f.suggested)
            for f in islice(rows, limit)]


@router.get("/v1/reviews/unvalidated")
def unvalidated(desk: Desk, who: Reviewer,
                limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[UnvalidatedOut]:
    """The observations whose model decision was not auto-validated
    (``--review-identifications``) that this reviewer has not yet given a verdict on, in
    the identify output's order."""
    from fieldguide.ingest.reviews import reviewed_by

    with desk.study(read_only=True) as study:
        done = reviewed_by(study, who)
    rows = (u for u in desk.unvalidated if u.observation_id not in done)
    return [UnvalidatedOut(observation_id=u.observation_id, photo_ids=list(u.photo_ids),
                           taxon=u.taxon, rank=u.rank, status=u.status, remarks=u.remarks)
            for u in islice(rows, limit)]


@router.get("/v1/reviews/photos/{photo_id:path}")
def queue_photo(svc: Svc, desk: Desk, who: Reviewer, photo_id: str,
                size: Annotated[int, Query(ge=32, le=1024)] = 320) -> Response:
    """A photo of the flagged or not auto-validated queue as a JPEG thumbnail, by id only
    (404 for an id those queues do not show, or a photo known only by URL)."""
    from fieldguide.service.references import thumbnail

    where = desk.photo_paths.get(photo_id)
    if where is None:
        raise HTTPException(404, f"photo {photo_id!r} is in no review queue, or has no file")
    try:
        body = thumbnail(where, size, svc.settings.max_pixels)
    except InputError as exc:
        raise HTTPException(404, f"photo {photo_id!r}: {exc.reason}") from None
    return Response(body, media_type="image/jpeg",
                    headers={"Cache-Control": "private, max-age=3600"})


@router.post("/v1/reviews", status_code=201)
def review(desk: Desk, who: Reviewer, body: ReviewIn) -> ReviewOut:
    """Write one verdict into the study as the reviewer's identification."""
    from fieldguide.ingest.reviews import record_verdict

    if (body.taxon is None) == (body.verdict is None):
        raise HTTPException(422, "give either taxon or \"verdict\": \"unsure\", not both")
    try:
        with desk.study() as study:
            done = record_verdict(study, body.observation_id, who, body.taxon)
    except InputError as exc:
        raise HTTPException(422, exc.reason) from None
    return ReviewOut(observation_id=done.observation_id, reviewer=done.reviewer,
                     taxon=done.taxon, verdict="unsure" if done.taxon is None else "taxon",
                     created_at=done.created_at.isoformat(timespec="seconds"),
                     import_id=done.import_id)
