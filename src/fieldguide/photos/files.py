"""Where a fetched photo lies in the study, and the checks it passes before it is kept.

A photo is written under ``photos/.tmp/`` (a large one streams there as it downloads) and
renamed into ``photos/<shard>/<id>.<ext>`` only once it is complete and passes its kind's
content check (:data:`CHECKS`; a photo must decode), so a killed run leaves either the whole
file or none (the rename is atomic on one file system; a re-run clears ``.tmp``). No fsync: a
killed process is covered by the rename, and after a power loss ``photos fetch --verify``
finds a damaged file by its hash. The extension comes from the decoded format, not from the
URL (servers lie).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Callable, Container
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from fieldguide.errors import InputError
from fieldguide.inputs.files import atomic_path, file_sha256
from fieldguide.models.pixels import LIMITS, check_header

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "TIFF": "tif",
              "BMP": "bmp", "MPO": "jpg"}
_SAFE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True)
class Kept:
    """A fetched file checked and in place (no width or height for a kind without pixels)."""

    path: Path
    file_bytes: int
    sha256: str
    width: int | None
    height: int | None


def stem(photo_id: str) -> str:
    """A file name for a photo id: the id itself when it is a plain name, else its hash (an id
    with ``/`` or ``..`` must not choose where the file goes)."""
    if _SAFE.fullmatch(photo_id) and ".." not in photo_id:
        return photo_id
    return "id-" + hashlib.sha1(photo_id.encode()).hexdigest()


def shard(photo_id: str) -> str:
    """Two hex digits of the id's hash: 256 folders keep each one small at 25M photos."""
    return hashlib.sha1(photo_id.encode()).hexdigest()[:2]


_SUFFIXES = tuple(dict.fromkeys(EXTENSIONS.values()))


def on_disk(root: Path, photo_id: str, folders: Container[str] | None = None) -> Path | None:
    """The kept file of a photo, whatever its format, or None (asked for every photo before
    its download, so plain strings and one ``stat`` per format). ``folders``: the shard
    folders that existed when the run began (:func:`shard_folders`); a photo whose folder
    was not among them cannot have been kept by an earlier run, and costs no ``stat``."""
    folder = shard(photo_id)
    if folders is not None and folder not in folders:
        return None
    base = os.path.join(root, folder, stem(photo_id))
    for ext in _SUFFIXES:
        candidate = f"{base}.{ext}"
        if os.path.isfile(candidate):
            return Path(candidate)
    return None


def shard_folders(root: Path) -> frozenset[str]:
    """The shard folders under ``root`` now (at the start of a run: a first run into a new
    study finds none, and skips the look for earlier files that :func:`on_disk` makes)."""
    try:
        return frozenset(e.name for e in os.scandir(root) if e.is_dir() and e.name != ".tmp")
    except FileNotFoundError:
        return frozenset()


@dataclass(frozen=True)
class Checked:
    """What a content check found: the file's extension (from the decoded format, since
    servers lie) and, for a picture, its size in pixels."""

    extension: str
    width: int | None = None
    height: int | None = None


def check_image(body: bytes | Path, max_bytes: int) -> Checked:
    """Check a downloaded photo; raises :class:`InputError` with the reason it is refused. The
    header is checked against the decompression-bomb limits first, then the whole file is
    decoded (a JPEG at its smallest scale, which still reads every byte): a body cut short
    fails here too. One open for both: at 10 KiB a photo, parsing the header twice cost as
    much as the decoding."""
    try:
        size = len(body) if isinstance(body, bytes) else body.stat().st_size
        if size > max_bytes:
            raise InputError(f"file of {size:,} bytes is over the {max_bytes:,}-byte limit")
        if size == 0:
            raise InputError("not an image (empty file)")
        with Image.open(io.BytesIO(body) if isinstance(body, bytes) else body) as im:
            fmt, (width, height) = str(im.format), im.size
            reason = check_header(im, LIMITS)
            if reason:
                raise InputError(reason)
            if fmt == "JPEG":
                im.draft("RGB", (1, 1))
            im.load()
    except UnidentifiedImageError:
        raise InputError("not an image (e.g. an HTML page)") from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"decompression bomb: {exc}") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise InputError(f"unreadable image: {exc}") from None
    return Checked(EXTENSIONS.get(fmt, fmt.lower()), width, height)


#: The content check of each kind of file fetched: the body just downloaded (its bytes, or
#: the scratch file a large one streamed to) and the size cap in, what was found out (or an
#: InputError with the reason it is refused). A new kind of media is one function and one
#: line here.
CHECKS: dict[str, Callable[[bytes | Path, int], Checked]] = {
    "photo": check_image,
}


def check_content(body: bytes | Path, kind: str, max_bytes: int) -> Checked:
    """The check a downloaded body of ``kind`` must pass before it is kept."""
    check = CHECKS.get(kind)
    if check is None:
        raise InputError(f"no content check for {kind!r} files (known: {', '.join(CHECKS)})")
    return check(body, max_bytes)


def scratch(root: Path, photo_id: str) -> Path:
    """Where a large photo streams while it downloads: ``photos/.tmp``, which the next run
    clears of whatever a killed run left there."""
    return root / ".tmp" / f"{stem(photo_id)}.{os.getpid()}.part"


def keep(body: bytes | Path, photo_id: str, root: Path, *, kind: str, max_bytes: int,
         sha256: str, file_bytes: int) -> Kept:
    """Check a complete download and put it in place: bytes are written through a scratch
    file, a scratch file (a large body) is renamed. Either way the final name, whose
    extension the check decides, appears only whole."""
    checked = check_content(body, kind, max_bytes)
    final = root / shard(photo_id) / f"{stem(photo_id)}.{checked.extension}"
    if isinstance(body, bytes):
        with atomic_path(final, scratch=root / ".tmp") as tmp:
            tmp.write_bytes(body)
    else:
        final.parent.mkdir(exist_ok=True)
        os.replace(body, final)  # the same one rename atomic_path would make
    return Kept(final, file_bytes, sha256, checked.width, checked.height)


def describe(path: Path, kind: str, max_bytes: int) -> Kept:
    """A file already in place (kept by a run that was killed before recording it)."""
    checked = check_content(path, kind, max_bytes)
    return Kept(path, path.stat().st_size, file_sha256(path), checked.width, checked.height)


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
