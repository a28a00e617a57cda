"""Photo quality: fixed rules that reject blurry, too dark and too small photos before any
unknown-taxon test. Quality needs pixels, so :func:`photo_quality` runs in the batch runner on
each decoded crop (the pseudo-output ``quality``); the fitted rejection reads its columns
through :func:`quality_reasons`. A leaf: NumPy and Pillow only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

QUALITY = "quality"
#: The columns of the ``quality`` pseudo-output.
QUALITY_COLUMNS = ("sharpness", "brightness", "dark_share", "shortest_side")
#: Quality rules, checked in order: (reason, column, reject when below / above, value).
#: Sharpness is the variance of the 4-neighbour Laplacian of the grey crop (0-255 scale):
#: every Oxford flower photo scores above 40, a Gaussian blur of sigma 3 below 10. Brightness
#: is the mean grey level; dark share the share of pixels below 16.
QUALITY_RULES = (("not usable: too small", "shortest_side", "below", 64.0),
                 ("not usable: too dark", "brightness", "below", 25.0),
                 ("not usable: too dark", "dark_share", "above", 0.85),
                 ("not usable: blurry", "sharpness", "below", 10.0))


def photo_quality(crops: np.ndarray, sides: Sequence[float] | None = None) -> np.ndarray:
    """(n, H, W, 3) uint8 crops -> (n, 4) :data:`QUALITY_COLUMNS`; ``sides`` the original
    photos' shortest sides (NaN when unknown)."""
    grey = crops.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    lap = (grey[:, 1:-1, :-2] + grey[:, 1:-1, 2:] + grey[:, :-2, 1:-1] + grey[:, 2:, 1:-1]
           - 4 * grey[:, 1:-1, 1:-1])
    out = np.empty((len(crops), len(QUALITY_COLUMNS)), dtype=np.float32)
    out[:, 0] = lap.reshape(len(crops), -1).var(axis=1)
    out[:, 1] = grey.reshape(len(crops), -1).mean(axis=1)
    out[:, 2] = (grey < 16).reshape(len(crops), -1).mean(axis=1)
    out[:, 3] = np.nan if sides is None else np.asarray(sides, dtype=np.float32)
    return out


def shortest_side(path: str) -> float:
    """The photo's shorter side from its header (no pixels decoded); NaN if unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return float(min(im.size))
    except (OSError, ValueError):
        return float("nan")


def quality_reasons(quality: np.ndarray) -> list[str]:
    """Per row the first failed :data:`QUALITY_RULES` reason, "" when usable (NaN passes)."""
    reasons = [""] * len(quality)
    for reason, column, side, value in reversed(QUALITY_RULES):
        v = quality[:, QUALITY_COLUMNS.index(column)]
        with np.errstate(invalid="ignore"):
            bad = v < value if side == "below" else v > value
        for i in np.flatnonzero(bad):
            reasons[i] = reason
    return reasons
