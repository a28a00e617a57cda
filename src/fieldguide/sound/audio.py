"""The one audio path: recording file (or bytes) -> mono float32 at the model's sample rate ->
windows. What ``fieldguide.models.pixels`` is for photos: training, identification, the
fetcher's check and the benchmark all read recordings through here, so every model sees the
same samples.

- Limits are checked on the header before any sample is decoded: bytes, sample rate and
  duration (a 10-hour recording is refused from its frame count, never decoded).
- The whole file is then decoded: a file cut short (fewer frames than its header says, or a
  damaged FLAC frame) is refused here, not half-used later.
- Channels are averaged to mono and the signal is resampled with soxr (high quality), so a
  44.1 kHz phone recording and a 48 kHz recorder's file reach a model alike.

Decoding needs the ``sound`` extra's soundfile (libsndfile: WAV, FLAC, OGG, MP3) and soxr,
imported only when a recording is read.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from fieldguide.errors import InputError

Source = str | Path | bytes | BinaryIO
#: File suffixes taken for recordings when a folder is listed (libsndfile's common formats).
SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".w64", ".rf64")


@dataclass(frozen=True)
class AudioLimits:
    """What a recording may be before it is decoded (each check reads only the header).
    The default duration cap (one hour) is far above a community-science recording (seconds
    to minutes); ``max_samples`` bounds the memory of one decode whatever the rate."""

    max_bytes: int = 256 * 2**20
    max_seconds: float = 3600.0
    min_rate: int = 4_000
    max_rate: int = 768_000  # ultrasonic bat detectors record at up to 500 kHz
    max_channels: int = 16
    #: frames x channels decoded at once (1.6 GB of float32): an hour of 48 kHz stereo fits,
    #: an hour of a 16-channel array or of a 500 kHz bat detector does not.
    max_samples: int = 400_000_000


LIMITS = AudioLimits()


@dataclass(frozen=True)
class Header:
    """What a recording's header says: format, sample rate, channels and frames."""

    format: str
    rate: int
    channels: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.rate if self.rate else 0.0


def _soundfile() -> Any:
    try:
        import soundfile
    except (ImportError, OSError) as exc:  # OSError: libsndfile missing
        raise InputError("reading recordings needs the sound extra: pip install "
                         "'fieldguide[sound]'") from exc
    return soundfile


def _size_of(source: Source, where: str | Path | None) -> int | None:
    if isinstance(source, bytes):
        return len(source)
    if isinstance(source, str | Path):
        from fieldguide.inputs.files import regular_file

        return regular_file(source, what="recording").stat().st_size
    return None


def check_header(head: Header, limits: AudioLimits = LIMITS) -> str:
    """The reason a recording is refused from its header alone, or "" when it is fine."""
    if not limits.min_rate <= head.rate <= limits.max_rate:
        return (f"sample rate of {head.rate:,} Hz is outside {limits.min_rate:,}.."
                f"{limits.max_rate:,} Hz")
    if not 1 <= head.channels <= limits.max_channels:
        return f"{head.channels} channels (at most {limits.max_channels})"
    if head.frames <= 0:
        return "no samples (a recording of zero length)"
    if head.seconds > limits.max_seconds:
        return (f"{head.seconds / 3600:.1f} hours long, over the {limits.max_seconds:,.0f}-s "
                "limit (cut it into shorter files)")
    if head.frames * head.channels > limits.max_samples:
        return (f"{head.frames:,} frames x {head.channels} channels is over the "
                f"{limits.max_samples:,}-sample limit (cut it into shorter files)")
    return ""


def _fp(source: Source) -> Any:
    if isinstance(source, bytes):
        return io.BytesIO(source)
    return str(source) if isinstance(source, Path) else source


def read_header(source: Source, limits: AudioLimits = LIMITS) -> Header:
    """The checked header of a recording (nothing decoded); raises :class:`InputError`."""
    where = source if isinstance(source, str | Path) else None
    size = _size_of(source, where)
    if size is not None and size > limits.max_bytes:
        raise InputError(f"file of {size:,} bytes is over the {limits.max_bytes:,}-byte limit",
                         path=where)
    if size == 0:
        raise InputError("not a recording (empty file)", path=where)
    sf = _soundfile()
    try:
        info = sf.info(_fp(source))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise InputError(f"not a recording libsndfile can read ({_first(exc)})",
                         path=where) from None
    head = Header(str(info.format), int(info.samplerate), int(info.channels),
                  int(info.frames))
    reason = check_header(head, limits)
    if reason:
        raise InputError(reason, path=where)
    return head


def _first(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]


@dataclass(frozen=True)
class Recording:
    """A decoded recording: mono float32 samples at ``rate`` Hz, and the header it came
    with (its own rate, channels and format)."""

    samples: np.ndarray
    rate: int
    header: Header

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


def decode(source: Source, limits: AudioLimits = LIMITS) -> tuple[np.ndarray, Header]:
    """(frames, channels) float32 samples at the file's own rate; raises InputError."""
    if not isinstance(source, bytes | str | Path):
        source = source.read(limits.max_bytes + 1)  # a stream is read once, within the cap
    where = source if isinstance(source, str | Path) else None
    head = read_header(source, limits)
    sf = _soundfile()
    try:
        data, _ = sf.read(_fp(source), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, MemoryError) as exc:
        raise InputError(f"unreadable recording ({_first(exc)})", path=where) from None
    if len(data) < head.frames:
        raise InputError(f"truncated recording: {len(data):,} of the {head.frames:,} frames "
                         "its header announces", path=where)
    if not np.isfinite(data).all():
        raise InputError("the samples hold NaN or infinite values", path=where)
    return np.asarray(data, dtype=np.float32), head


def read_recording(source: Source, rate: int, limits: AudioLimits = LIMITS) -> Recording:
    """A recording as mono float32 at ``rate`` Hz (channels averaged, resampled by soxr);
    raises :class:`InputError` with one short reason for anything unusable."""
    data, head = decode(source, limits)
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return Recording(resample(mono, head.rate, rate), rate, head)


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Mono float32 samples from ``rate_in`` to ``rate_out`` Hz (soxr, high quality)."""
    if rate_in == rate_out:
        return np.ascontiguousarray(samples, dtype=np.float32)
    import soxr

    out = soxr.resample(np.ascontiguousarray(samples, dtype=np.float32), rate_in, rate_out,
                        quality="HQ")
    return np.asarray(out, dtype=np.float32)


def load_recording(source: Source, rate: int, limits: AudioLimits = LIMITS
                   ) -> Recording | str:
    """Like :func:`read_recording`, but the reason a recording cannot be used comes back as
    a string, so a batch goes on (per-recording failures are rows, not crashes)."""
    if isinstance(source, str) and not source:
        return "no file path (the recording is known only by URL: run `fieldguide sound fetch`)"
    try:
        return read_recording(source, rate, limits)
    except InputError as exc:
        return exc.reason


@dataclass(frozen=True)
class Windows:
    """Fixed-length windows of one recording: (n, length) samples and each window's start
    and end in seconds (the end of the last one is the recording's, not the padding's)."""

    samples: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray


def windows(samples: np.ndarray, rate: int, length_s: float, hop_s: float,
            min_fraction: float = 0.5) -> Windows:
    """Cut mono samples into windows of ``length_s`` every ``hop_s`` seconds. A tail shorter
    than a window is zero-padded when it holds at least ``min_fraction`` of one (less is too
    little to call on); a recording shorter than one window is one padded window."""
    if length_s <= 0 or hop_s <= 0:
        raise ValueError("window length and hop must be > 0")
    size, hop = round(length_s * rate), max(1, round(hop_s * rate))
    n = len(samples)
    starts = list(range(0, max(n - size, 0) + 1, hop))
    last = starts[-1] + hop if starts else 0
    if starts and starts[-1] + size < n and (n - last) >= min_fraction * size:
        starts.append(last)
    out = np.zeros((len(starts), size), dtype=np.float32)
    for i, s in enumerate(starts):
        part = samples[s:s + size]
        out[i, :len(part)] = part
    start = np.asarray(starts, dtype=np.float64) / rate
    end = np.minimum(start + size / rate, n / rate)
    return Windows(out, start, end)


def is_recording_path(path: str | Path) -> bool:
    """Whether a file name is one a folder listing takes as a recording."""
    return os.path.splitext(str(path))[1].lower() in SUFFIXES
