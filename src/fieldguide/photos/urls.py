"""Which URLs may be fetched, and the size variant of an iNaturalist photo URL.

Only ``http`` and ``https`` are ever opened: an export is data from elsewhere, and a
``file://`` or bare path in it must not make fieldguide read local files (nor ``ftp://`` make
it talk to other servers). iNaturalist serves each photo in several sizes under the same
folder (``.../photos/123/medium.jpg``); the export names one, ``photos fetch --size`` picks.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

SIZES = ("square", "small", "medium", "large", "original")
# The public bucket of iNaturalist's open data (the licensed photos), as its docs give it.
OPEN_DATA_BASE_URL = "https://inaturalist-open-data.s3.amazonaws.com"
_INAT_PHOTO = re.compile(
    r"(/photos/[0-9]+/)(square|small|medium|large|original|thumb)(\.[A-Za-z]+)"
)


def refusal(url: str | None) -> str:
    """Why ``url`` will not be fetched, or "" when it may be (checked on text, never opened)."""
    if url is None or not url.strip():
        return "no URL"
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"{parts.scheme}://" if parts.scheme else "a bare path"
        return f"not an http(s) URL ({shown}); refused, never opened"
    if not parts.hostname:
        return "URL has no host"
    return ""


def is_inaturalist(url: str) -> bool:
    """iNaturalist's photo hosts: the open-data bucket, static.inaturalist.org and the like."""
    host = (urlsplit(url).hostname or "").lower()
    return "inaturalist" in host


def with_size(url: str, size: str | None) -> str:
    """The iNaturalist URL of the same photo at ``size``; other URLs (and ``size`` None) as
    they are."""
    if size is None or not is_inaturalist(url):
        return url
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; use one of {', '.join(SIZES)}")
    return _INAT_PHOTO.sub(lambda m: f"{m.group(1)}{size}{m.group(3)}", url, count=1)


def bucket_url(photo_id: str, extension: str, *, size: str = "medium",
               base: str = OPEN_DATA_BASE_URL) -> str:
    """A photo's URL in the open-data bucket: ``{base}/photos/{photo_id}/{size}.{extension}``."""
    return f"{base.rstrip('/')}/photos/{photo_id}/{size}.{extension.lower().lstrip('.')}"
