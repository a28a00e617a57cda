"""Reference photos for the identify page: for each suggestion, the indexed photos labelled
inside its taxon that are nearest the query, and a photo fitted into a thumbnail; and where
the world map's land outlines are found.

The map is Natural Earth's 1:110m land (public domain) as TopoJSON, from the npm registry's
``world-atlas`` package: ``scripts/setup.sh`` puts ``land-110m.json`` in the virtual
environment (``<venv>/share/fieldguide/``); ``FIELDGUIDE_WORLD_MAP`` names another file.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.service.schema import Reference

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
    (one embedding) first; none for a name the index does not know. Only the found rows'
    ids and labels are read (not whole columns: an index may hold millions of photos)."""
    from fieldguide.search import similar

    out: list[list[Reference]] = []
    for taxon in taxa:
        try:
            found = similar(index, query, k=k, taxon=taxon)
        except InputError:
            out.append([])
            continue
        keep = found.rows[0] >= 0
        rows, scores = found.rows[0][keep], found.scores[0][keep]
        ids = index.meta.column("photo_id").take(rows).to_pylist()
        labels = index.meta.column("label").take(rows).to_pylist()
        out.append([Reference(photo_id=str(p), label=str(lab or ""),
                              similarity=round(float(sim), 5))
                    for p, lab, sim in zip(ids, labels, scores, strict=True)])
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
