"""Evaluation preprocessing with Pillow and NumPy only, shared by PyTorch and ONNX Runtime so
that both see exactly the same pixels (and identification needs no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
             "nearest": Image.Resampling.NEAREST}


def open_rgb(path: str | Path) -> Image.Image:
    """Decode fully now, so a truncated file fails here and not later in the pipeline; turn
    the photo upright by its EXIF orientation, as phones store it (and identification does)."""
    with Image.open(path) as im:
        im.load()
        upright = ImageOps.exif_transpose(im) or im
        rgb: Image.Image = upright.convert("RGB")
        return rgb


def resize_crop(image: Image.Image, size: int, crop_pct: float, interpolation: str) -> Image.Image:
    """Shorter side to size/crop_pct, then the central size x size square (timm's eval crop)."""
    scale = round(size / crop_pct)
    w, h = image.size
    if w <= h:
        nw, nh = scale, max(scale, round(h * scale / w))
    else:
        nw, nh = max(scale, round(w * scale / h)), scale
    image = image.resize((nw, nh), _RESAMPLE[interpolation])
    left, top = (nw - size) // 2, (nh - size) // 2
    return image.crop((left, top, left + size, top + size))


def eval_uint8(image: Image.Image, prep: dict[str, Any]) -> np.ndarray:
    """The evaluation crop as CHW uint8: what data-loader workers ship (4x less than floats;
    the model's process normalises whole batches)."""
    size, crop_pct = int(prep["size"]), float(prep["crop_pct"])
    crop = resize_crop(image, size, crop_pct, str(prep["interpolation"]))
    out: np.ndarray = np.ascontiguousarray(np.asarray(crop, dtype=np.uint8).transpose(2, 0, 1))
    return out


def normalise(chw: np.ndarray, mean: Any, std: Any) -> np.ndarray:
    """CHW uint8 -> float32 with per-channel mean/std, the same arithmetic as
    ``fieldguide.training.data.Normaliser``."""
    centre = np.asarray(mean, dtype=np.float32)[:, None, None] * np.float32(255.0)
    scale = np.asarray(std, dtype=np.float32)[:, None, None] * np.float32(255.0)
    out: np.ndarray = ((chw.astype(np.float32) - centre) / scale).astype(np.float32)
    return out


def eval_array(image: Image.Image, prep: dict[str, Any]) -> np.ndarray:
    """One photo as the network's (3, size, size) float input, following ``model.json``."""
    return normalise(eval_uint8(image, prep), prep["mean"], prep["std"])
