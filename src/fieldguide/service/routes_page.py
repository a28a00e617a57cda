"""The routes the identify page needs beyond the identification API: an indexed photo's image
(a reference photo beside a suggestion, a similar photo) and the world map's land outlines.

Images are served by photo id only: the id picks a row of the loaded index and the file is
the one that row names, so no path ever comes from the request. Each image is decoded and
re-encoded as a small JPEG (a reference photo is a thumbnail, and what goes out is always an
image, whatever file the index names). Without the map file the route answers 404 and the
page says the map is missing (``references.world_map`` says where it is looked for).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, Response

from fieldguide.errors import InputError
from fieldguide.service.references import WORLD_MAP_ENV, thumbnail, world_map
from fieldguide.service.routes import Svc

router = APIRouter()


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
