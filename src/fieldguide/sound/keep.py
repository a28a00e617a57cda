"""The fetcher's check of a downloaded recording, and where a kept recording lies.

``fieldguide.photos.client`` calls :func:`keep_recording` for a job of kind ``sound`` where it
calls ``photos.files.keep`` for a photo: the body must pass the one audio path's limits and
decode whole (:func:`fieldguide.sound.audio.decode`) before it is written, under a temporary
name renamed into ``sounds/<shard>/<id>.<ext>``, so a refused or half-downloaded recording
leaves nothing behind. The extension comes from the decoded format, not from the URL.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from fieldguide.inputs.files import atomic_path
from fieldguide.photos.files import Kept, shard, stem
from fieldguide.sound.audio import LIMITS, Header, decode

EXTENSIONS = {"WAV": "wav", "WAVEX": "wav", "FLAC": "flac", "OGG": "ogg", "MP3": "mp3",
              "AIFF": "aiff", "W64": "w64", "RF64": "rf64"}


def check_recording(body: bytes, max_bytes: int) -> Header:
    """The header of a recording's bytes once they decode whole within the limits; raises
    :class:`~fieldguide.errors.InputError` with the reason it is refused."""
    limits = dataclasses.replace(LIMITS, max_bytes=max_bytes)
    return decode(body, limits)[1]


def keep_recording(body: bytes, sound_id: str, root: Path, max_bytes: int) -> Kept:
    """Check ``body`` and write it into place (temporary name, then rename). The returned
    ``Kept`` has no width or height (0): a recording's shape is its header's."""
    head = check_recording(body, max_bytes)
    final = root / shard(sound_id) / f"{stem(sound_id)}.{EXTENSIONS.get(head.format, 'audio')}"
    final.parent.mkdir(parents=True, exist_ok=True)
    (root / ".tmp").mkdir(exist_ok=True)
    with atomic_path(final, scratch=root / ".tmp") as tmp:
        tmp.write_bytes(body)
    return Kept(final, len(body), hashlib.sha256(body).hexdigest(), 0, 0)


def on_disk(root: Path, sound_id: str) -> Path | None:
    """The kept file of a recording, whatever its format, or None."""
    base = root / shard(sound_id) / stem(sound_id)
    for ext in dict.fromkeys([*EXTENSIONS.values(), "audio"]):
        candidate = base.with_name(f"{base.name}.{ext}")
        if candidate.is_file():
            return candidate
    return None
