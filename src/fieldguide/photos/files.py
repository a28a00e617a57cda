"""Where a fetched photo lies in the study, and the checks it passes before it is kept.

A photo is written under ``photos/.tmp/`` and renamed into ``photos/<shard>/<id>.<ext>`` only
once it is complete and decodes, so a killed run leaves either the whole file or none (the
rename is atomic on one file system; a re-run clears ``.tmp``). No fsync: a killed process is
covered by the rename, and after a power loss ``photos fetch --verify`` finds a damaged file by
its hash. The extension comes from the decoded format, not from the URL (servers lie).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from fieldguide.errors import InputError
from fieldguide.inputs.files import atomic_path, file_sha256
from fieldguide.models.pixels import LIMITS, open_image

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "TIFF": "tif",
              "BMP": "bmp", "MPO": "jpg"}
_SAFE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True)
class Kept:
    """A photo file checked and in place."""

    path: Path
    file_bytes: int
    sha256: str
    width: int
    height: int


def stem(photo_id: str) -> str:
    """A file name for a photo id: the id itself when it is a plain name, else its hash (an id
    with ``/`` or ``..`` must not choose where the file goes)."""
    if _SAFE.fullmatch(photo_id) and ".." not in photo_id:
        return photo_id
    return "id-" + hashlib.sha1(photo_id.encode()).hexdigest()


def shard(photo_id: str) -> str:
    """Two hex digits of the id's hash: 256 folders keep each one small at 25M photos."""
    return hashlib.sha1(photo_id.encode()).hexdigest()[:2]


def on_disk(root: Path, photo_id: str) -> Path | None:
    """The kept file of a photo, whatever its format, or None."""
    base = root / shard(photo_id) / stem(photo_id)
    for ext in dict.fromkeys(EXTENSIONS.values()):
        candidate = base.with_name(f"{base.name}.{ext}")
        if candidate.is_file():
            return candidate
    return None


def check_image(body: bytes, max_bytes: int) -> tuple[str, int, int]:
    """(format, width, height) of a photo's bytes; raises :class:`InputError` with the reason
    it is refused. The header is checked against the decompression-bomb limits first, then the
    whole file is decoded (at the smallest JPEG scale): a body cut short fails here too."""
    limits = dataclasses.replace(LIMITS, max_bytes=max_bytes)
    try:
        with Image.open(io.BytesIO(body)) as im:
            fmt, (width, height) = str(im.format), im.size
    except UnidentifiedImageError:
        raise InputError("not an image (e.g. an HTML page)") from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"decompression bomb: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"unreadable image: {exc}") from None
    open_image(body, limits, draft_side=1)
    return fmt, width, height


def keep(body: bytes, photo_id: str, root: Path, max_bytes: int) -> Kept:
    """Check ``body`` and write it into place (temporary name, then rename)."""
    fmt, width, height = check_image(body, max_bytes)
    name = f"{stem(photo_id)}.{EXTENSIONS.get(fmt, fmt.lower())}"
    final = root / shard(photo_id) / name
    final.parent.mkdir(exist_ok=True)
    with atomic_path(final, scratch=root / ".tmp") as tmp:
        tmp.write_bytes(body)
    return Kept(final, len(body), hashlib.sha256(body).hexdigest(), width, height)


def describe(path: Path, max_bytes: int) -> Kept:
    """A file already in place (kept by a run that was killed before recording it)."""
    body = path.read_bytes()
    _, width, height = check_image(body, max_bytes)
    return Kept(path, len(body), hashlib.sha256(body).hexdigest(), width, height)


def sha256_if_present(path: Path) -> str | None:
    """The hash of a kept file, or None when it is gone."""
    try:
        return file_sha256(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def prepare(root: Path) -> None:
    """Make the photos folder, clear what a killed run left in ``.tmp``, and prove it is
    writable, so a read-only study fails at once with a clear reason, not per photo."""
    try:
        (root / ".tmp").mkdir(parents=True, exist_ok=True)
        for leftover in (root / ".tmp").iterdir():
            leftover.unlink()
        probe = root / ".tmp" / f"probe.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"cannot write photos here ({exc.strerror or exc})", path=root) from None
