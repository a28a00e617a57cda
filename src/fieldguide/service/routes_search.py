"""The search routes: photos of the index similar to one of its own, and reverse search
(indexed photos whose model prediction is a taxon). Both need ``--index``."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query

from fieldguide.errors import InputError
from fieldguide.service.routes import Svc

router = APIRouter()


@router.get("/v1/similar")
def similar(svc: Svc, photo_id: Annotated[str, Query(min_length=1, max_length=500)],
            k: Annotated[int, Query(ge=1, le=100)] = 10,
            taxon: Annotated[str | None, Query(max_length=200)] = None) -> list[dict[str, Any]]:
    """The photos of the index most similar to one of its own photos (a new photo's
    similar photos come back in ``POST /v1/identify``)."""
    if svc.index is None:
        raise HTTPException(404, "no index loaded (start with --index)")
    from fieldguide.search import similar as nearest

    row = svc.index_row(photo_id)
    if row is None:
        raise HTTPException(404, f"photo {photo_id!r} is not in the index")
    query = svc.index.vectors(np.array([row]))
    try:
        found = nearest(svc.index, query, k=k + 1, taxon=taxon)
    except InputError as exc:
        raise HTTPException(422, exc.reason) from None
    rows = [r for r in found.records(svc.index) if r["photo_id"] != photo_id][:k]
    for rank, r in enumerate(rows, 1):
        r["rank"] = rank
        r.pop("query", None)
    return rows


@router.get("/v1/candidates")
def candidates(svc: Svc, taxon: str, min_score: float = 0.5,
               limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
    if svc.index is None:
        raise HTTPException(404, "no index loaded (start with --index)")
    from fieldguide.search import candidates as find

    try:
        return find(svc.index, taxon, min_score=min_score, limit=limit)
    except InputError as exc:
        raise HTTPException(422, exc.reason) from None
