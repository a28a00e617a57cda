"""The review page and its routes: an expert picks a taxon, goes through the observations
reverse search ranks highest for it, and each verdict becomes one identification in the
study (``fieldguide.ingest.reviews``). On with ``fieldguide serve -s STUDY --reviewers FILE``
(and ``--index`` for the queue); every route answers 404 without them.

The queue and the verdicts need ``Authorization: Bearer TOKEN`` (a token of the reviewers
file); the study's taxa do not. The page shows photos through ``GET /v1/photos/{id}``
(``routes_page``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse
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
