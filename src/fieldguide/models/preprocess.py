"""Evaluation preprocessing with Pillow and NumPy only, shared by PyTorch and ONNX Runtime so
that both see exactly the same pixels (and identification needs no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
             "nearest": Image.Resampling.NEAREST}


def open_rgb(path: str | Path) -> Image.Image:
    """Decode fully now, so a truncated file fails here and not later in the pipeline."""
    with Image.open(path) as im:
        im.load()
        rgb: Image.Image = im.convert("RGB")
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


def normalise(image: Image.Image, mean: Any, std: Any) -> np.ndarray:
    """HWC uint8 -> CHW float32 with per-channel mean/std."""
    pixels: np.ndarray = np.asarray(image, dtype=np.float32) / np.float32(255.0)
    centre: np.ndarray = np.asarray(mean, dtype=np.float32)
    scale: np.ndarray = np.asarray(std, dtype=np.float32)
    out: np.ndarray = np.ascontiguousarray(((pixels - centre) / scale).transpose(2, 0, 1),
                                           dtype=np.float32)
    return out


def eval_array(image: Image.Image, prep: dict[str, Any]) -> np.ndarray:
    """One photo as the network's (3, size, size) input, following ``model.json``."""
    size, crop_pct = int(prep["size"]), float(prep["crop_pct"])
    crop = resize_crop(image, size, crop_pct, str(prep["interpolation"]))
    return normalise(crop, prep["mean"], prep["std"])
