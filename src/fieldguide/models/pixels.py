"""The one pixel path: photo file (or bytes) -> upright 8-bit RGB -> the network's crop.

Training, evaluation, calibration, identification, search and the service all decode through
here, so PyTorch and ONNX Runtime always see the same pixels (two copies of this path drifted
once: a transparent PNG came out black in one and white in the other). NumPy and Pillow only.

- Limits are checked on the header, before any pixel is decoded: bytes, pixels and aspect
  ratio (a 40000 x 10 PNG is only 400K pixels but needs a 40000-wide decode buffer per row
  group and is no photo anyway).
- JPEGs decode at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling via ``Image.draft``) when the
  resize target is that much smaller: most of the decode cost is avoided.
- EXIF orientation is honoured (phones store photos sideways), CMYK, palette, greyscale and
  16-bit images become RGB (16-bit values are scaled, never clipped), and transparent pixels
  are laid on white, as a viewer shows them.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fieldguide.errors import InputError

Source = str | Path | bytes | BinaryIO

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
             "nearest": Image.Resampling.NEAREST}
INTERPOLATIONS = tuple(_RESAMPLE)
_WIDE = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


@dataclass(frozen=True)
class ImageLimits:
    """What a photo may be before it is decoded (each check reads only the header)."""

    max_bytes: int = 64 * 2**20
    max_pixels: int = Image.MAX_IMAGE_PIXELS or 89_478_485  # Pillow's own bomb limit
    max_aspect: float = 20.0
    min_side: int = 1


LIMITS = ImageLimits()


@dataclass(frozen=True)
class Crop:
    """``model.json``'s preprocessing as far as pixels go: the shorter side to
    ``size / crop_pct``, then the central ``size`` x ``size`` square (timm's eval crop)."""

    size: int
    crop_pct: float
    interpolation: str

    @property
    def shorter_side(self) -> int:
        return round(self.size / self.crop_pct)

    @classmethod
    def from_card(cls, prep: Any) -> Crop:
        """From a card's preprocessing (a ``Preprocessing`` or its dict)."""
        d = prep if isinstance(prep, dict) else prep.to_dict()
        return cls(int(d["size"]), float(d["crop_pct"]), str(d["interpolation"]))


def _size_of(source: Source) -> int | None:
    if isinstance(source, bytes):
        return len(source)
    if isinstance(source, str | Path):
        st = os.stat(source)
        if not Path(source).is_file():
            raise InputError("not a regular file", path=source)
        return st.st_size
    return None


def check_header(im: Image.Image, limits: ImageLimits = LIMITS) -> str:
    """The reason an opened (not yet decoded) image is refused, or "" when it is fine."""
    w, h = im.size
    if min(w, h) < limits.min_side:
        return f"image too small: {w}x{h} pixels"
    if w * h > limits.max_pixels:
        return f"decompression bomb: {w}x{h} pixels (limit {limits.max_pixels:,})"
    if max(w, h) / min(w, h) > limits.max_aspect:
        return f"aspect ratio {max(w, h) / min(w, h):.0f}:1 is over {limits.max_aspect:.0f}:1"
    return ""


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB: 16-bit greys are scaled (not clipped) and transparent
    pixels are laid on white."""
    if im.mode in _WIDE:
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        im = Image.fromarray(np.clip(a * (255.0 / top), 0, 255).round().astype(np.uint8), "L")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im if im.mode == "RGB" else im.convert("RGB")


def open_image(source: Source, limits: ImageLimits = LIMITS,
               draft_side: int | None = None) -> Image.Image:
    """Decode a photo fully (a truncated file fails here, not later), upright and RGB.

    ``draft_side`` lets a JPEG decode at reduced scale while keeping its shorter side at
    least that long. Raises :class:`InputError` with a short reason for anything unusable.
    """
    where = source if isinstance(source, str | Path) else None
    try:
        size = _size_of(source)
        if size is not None and size > limits.max_bytes:
            raise InputError(f"file of {size:,} bytes is over the {limits.max_bytes:,}-byte limit",
                             path=where)
        if size == 0:
            raise InputError("not an image (empty file)", path=where)
        fp: Any = io.BytesIO(source) if isinstance(source, bytes) else source
        with Image.open(fp) as im:
            reason = check_header(im, limits)
            if reason:
                raise InputError(reason, path=where)
            if draft_side and im.format == "JPEG":
                im.draft("RGB", (draft_side, draft_side))
            im.load()
            return to_rgb(ImageOps.exif_transpose(im) or im)
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError("missing file", path=where) from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"decompression bomb: {exc}", path=where) from None
    except UnidentifiedImageError:
        raise InputError(_unknown_format(source), path=where) from None
    except (OSError, ValueError, SyntaxError, MemoryError, EOFError) as exc:
        raise InputError(f"unreadable image: {exc}", path=where) from None


def _unknown_format(source: Source) -> str:
    """Name the formats phones use that Pillow cannot read, instead of a bare refusal."""
    try:
        if isinstance(source, bytes):
            head = source[:16]
        elif isinstance(source, str | Path):
            with open(source, "rb") as f:
                head = f.read(16)
        else:
            return "not an image"
    except OSError:
        return "not an image"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"avif"):
        return f"{head[8:12].decode()} (HEIC/AVIF) photo: not supported, convert it to JPEG"
    return "not an image"


def resize_crop(im: Image.Image, crop: Crop) -> Image.Image:
    """Shorter side to ``crop.shorter_side``, then the central square (timm's eval crop)."""
    scale = crop.shorter_side
    w, h = im.size
    if w <= h:
        nw, nh = scale, max(scale, round(h * scale / w))
    else:
        nw, nh = max(scale, round(w * scale / h)), scale
    im = im.resize((nw, nh), _RESAMPLE[crop.interpolation])
    left, top = (nw - crop.size) // 2, (nh - crop.size) // 2
    return im.crop((left, top, left + crop.size, top + crop.size))


def crop_pixels(source: Source, crop: Crop, draft: bool = True,
                limits: ImageLimits = LIMITS) -> np.ndarray:
    """(size, size, 3) uint8 pixels of one photo; raises :class:`InputError`."""
    im = open_image(source, limits, crop.shorter_side if draft else None)
    return np.asarray(resize_crop(im, crop), dtype=np.uint8)


def load_crop(source: Source, crop: Crop, draft: bool = True,
              limits: ImageLimits = LIMITS) -> np.ndarray | str:
    """Like :func:`crop_pixels`, but the reason a photo cannot be used comes back as a string,
    so a batch goes on (per-photo failures are rows, not crashes)."""
    if isinstance(source, str) and not source:
        return "no file path (the photo is known only by URL: run `fieldguide photos fetch`)"
    try:
        return crop_pixels(source, crop, draft, limits)
    except InputError as exc:
        return exc.reason


def normalise(batch: np.ndarray, mean: Any, std: Any) -> np.ndarray:
    """(n, H, W, 3) uint8 -> (n, 3, H, W) float32 with per-channel mean/std, in one pass.
    ``fieldguide.training`` applies the same arithmetic on the device."""
    scale = 1.0 / (255.0 * np.asarray(std, dtype=np.float32))
    shift = np.asarray(mean, dtype=np.float32) / np.asarray(std, dtype=np.float32)
    x = batch.astype(np.float32) * scale - shift
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
