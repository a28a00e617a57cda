"""What the identify page needs beyond the identification API: the reference photos beside
each suggestion (the indexed photos labelled inside the taxon that are nearest the query)
and their images, and the world map's land outlines.

Images are served by photo id only: the id picks a row of the loaded index and the file is
the one that row names, so no path ever comes from the request. Each image is decoded and
re-encoded as a small JPEG (a reference photo is a thumbnail, and what goes out is always an
image, whatever file the index names).

The map is Natural Earth's 1:110m land (public domain) as TopoJSON, from the npm registry's
``world-atlas`` package: ``scripts/setup.sh`` puts ``land-110m.json`` in the virtual
environment (``<venv>/share/fieldguide/``); ``FIELDGUIDE_WORLD_MAP`` names another file.
Without it the route answers 404 and the page says the map is missing.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, Response

from fieldguide.errors import InputError
from fieldguide.service.routes import Svc
from fieldguide.service.schema import Reference

router = APIRouter()

#: Reference photos per suggestion.
REFERENCES = 3
#: The environment variable naming the world map's TopoJSON file (else the venv's copy).
WORLD_MAP_ENV = "FIELDGUIDE_WORLD_MAP"
WORLD_MAP_NAME = "land-110m.json"


def world_map() -> Path:
    """Where the service looks for the land outlines: ``$FIELDGUIDE_WORLD_MAP``, else
    ``share/fieldguide/land-110m.json`` in the running environment (set-up's copy)."""
    named = os.environ.get(WORLD_MAP_ENV)
    return Path(named) if named else Path(sys.prefix) / "share" / "fieldguide" / WORLD_MAP_NAME


def references(index: Any, query: np.ndarray, taxa: Sequence[str],
               k: int = REFERENCES) -> list[list[Reference]]:
    """Per taxon, the k indexed photos whose label lies in its subtree, nearest ``query``
    (one embedding) first; none for a name the index does not know."""
    from fieldguide.search import similar

    out: list[list[Reference]] = []
    for taxon in taxa:
        try:
            found = similar(index, query, k=k, taxon=taxon)
        except InputError:
            out.append([])
            continue
        out.append([Reference(photo_id=r["photo_id"], label=r["label"],
                              similarity=r["similarity"])
                    for r in found.records(index)])
    return out


def thumbnail(path: Path, size: int, max_pixels: int) -> bytes:
    """The photo at ``path`` fitted into ``size`` x ``size`` as JPEG (upright, RGB); an
    unreadable file or one over the pixel limit is an InputError."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.width * im.height > max_pixels:
                raise InputError(f"{im.width}x{im.height} pixels is over the limit", path=path)
            im.draft("RGB", (size, size))
            small = (ImageOps.exif_transpose(im) or im).convert("RGB")
            small.thumbnail((size, size))
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise InputError(f"not a readable image ({exc.__class__.__name__})", path=path) from None
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=85)
    return buf.getvalue()


@router.get("/v1/photos/{photo_id:path}")
def photo(svc: Svc, photo_id: str,
          size: Annotated[int, Query(ge=32, le=1024)] = 320) -> Response:
    """An indexed photo as a JPEG thumbnail (404 without an index, for an id it lacks or a
    photo indexed by URL only)."""
    if svc.index is None:
        raise HTTPException(404, "no index loaded (start with --index)")
    row = svc.index_row(photo_id)
    if row is None:
        raise HTTPException(404, f"photo {photo_id!r} is not in the index")
    where = str(svc.index.meta.column("path")[row].as_py() or "")
    if not where or where.lower().startswith(("http://", "https://")):
        raise HTTPException(404, f"photo {photo_id!r} is indexed by URL only")
    try:
        body = thumbnail(Path(where), size, svc.settings.max_pixels)
    except InputError as exc:
        raise HTTPException(404, f"photo {photo_id!r}: {exc.reason}") from None
    return Response(body, media_type="image/jpeg",
                    headers={"Cache-Control": "private, max-age=3600"})


@router.get("/v1/map/land")
def land() -> FileResponse:
    """Natural Earth's land outlines (TopoJSON) for the page's map; 404 when not set up."""
    path = world_map()
    if not path.is_file():
        raise HTTPException(404, f"no world map at {path} (scripts/setup.sh installs it; "
                            f"or set {WORLD_MAP_ENV})")
    return FileResponse(path, media_type="application/json",
                        headers={"Cache-Control": "public, max-age=86400"})
