"""Photo files -> the network's uint8 crops, robust to what community photos throw at us.

JPEGs decode at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling via ``Image.draft``) when the
resize target is that much smaller: most of the decode cost is avoided. EXIF orientation is
honoured, CMYK/greyscale/16-bit/alpha become RGB, and Pillow's decompression-bomb guard is
kept. Every failure becomes a short reason string instead of an exception, so a batch goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
             "nearest": Image.Resampling.NEAREST}
_WIDE = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


@dataclass(frozen=True)
class Crop:
    """The preprocessing of ``model.json``: shorter side to size/crop_pct, centre square."""

    size: int
    crop_pct: float
    interpolation: str

    @property
    def shorter_side(self) -> int:
        return round(self.size / self.crop_pct)

    @classmethod
    def from_card(cls, prep: dict[str, Any]) -> Crop:
        return cls(int(prep["size"]), float(prep["crop_pct"]), str(prep["interpolation"]))


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB: 16-bit greys are scaled (not clipped) and transparent
    pixels are laid on white, as a viewer shows them."""
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


def resize_crop(im: Image.Image, crop: Crop) -> Image.Image:
    """timm's eval crop, the same arithmetic as ``fieldguide.models.preprocess``."""
    scale = crop.shorter_side
    w, h = im.size
    if w <= h:
        nw, nh = scale, max(scale, round(h * scale / w))
    else:
        nw, nh = max(scale, round(w * scale / h)), scale
    im = im.resize((nw, nh), _RESAMPLE[crop.interpolation])
    left, top = (nw - crop.size) // 2, (nh - crop.size) // 2
    return im.crop((left, top, left + crop.size, top + crop.size))


def load_crop(path: str | Path, crop: Crop, draft: bool = True) -> np.ndarray | str:
    """(size, size, 3) uint8 pixels, or the reason the file cannot be used."""
    try:
        with Image.open(path) as im:
            if im.width * im.height > (Image.MAX_IMAGE_PIXELS or np.inf):
                return f"decompression bomb: {im.width}x{im.height} pixels"
            if draft and im.format == "JPEG":
                side = crop.shorter_side
                im.draft("RGB", (side, side))
            im.load()
            rgb = to_rgb(ImageOps.exif_transpose(im) or im)
        return np.asarray(resize_crop(rgb, crop), dtype=np.uint8)
    except FileNotFoundError:
        return "missing file"
    except Image.DecompressionBombError as exc:
        return f"decompression bomb: {exc}"
    except UnidentifiedImageError:
        return "not an image"
    except (OSError, ValueError, SyntaxError, MemoryError) as exc:
        return f"unreadable image: {exc}"


def normalise(batch: np.ndarray, mean: Any, std: Any) -> np.ndarray:
    """(n, H, W, 3) uint8 -> (n, 3, H, W) float32 with per-channel mean/std, in one pass."""
    scale = 1.0 / (255.0 * np.asarray(std, dtype=np.float32))
    shift = np.asarray(mean, dtype=np.float32) / np.asarray(std, dtype=np.float32)
    x = batch.astype(np.float32) * scale - shift
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
