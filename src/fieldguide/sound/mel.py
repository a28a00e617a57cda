"""Windows of sound as images: the log-mel spectrogram of each window, drawn as a sonogram
(time left to right, low frequencies at the bottom) and resized to the image backbone's
square, grey in all three channels. NumPy and Pillow only, so the same images reach the
encoder at training and at identification.

The mel scale is the HTK formula, 2595 log10(1 + f / 700); the filters are triangles between
neighbouring band centres, each scaled to unit area (so a wide high band does not outweigh a
narrow low one). Decibels are relative to the window's loudest bin, down to ``top_db``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from fieldguide.sound.settings import MelSettings


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return np.asarray(2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0))


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return np.asarray(700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0))


@lru_cache(maxsize=8)
def filterbank(rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters of unit area on the FFT bins."""
    bins = np.fft.rfftfreq(n_fft, 1.0 / rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - bins[None, :]) / np.maximum(upper - centre, 1e-9)
    weights = np.clip(np.minimum(rising, falling), 0.0, None)
    weights *= (2.0 / np.maximum(upper - lower, 1e-9))
    out: np.ndarray = weights.astype(np.float32)
    return out


def log_mel(windows: np.ndarray, rate: int, mel: MelSettings) -> np.ndarray:
    """(n, samples) windows -> (n, n_mels, frames) decibels relative to each window's
    loudest bin, clipped at ``-top_db``."""
    x = np.asarray(windows, dtype=np.float32)
    n, length = x.shape
    frames = 1 + max(0, (length - mel.n_fft) // mel.hop)
    pad = max(0, mel.n_fft - length)
    if pad:
        x = np.pad(x, ((0, 0), (0, pad)))
    idx = np.arange(mel.n_fft)[None, :] + mel.hop * np.arange(frames)[:, None]
    taper = np.hanning(mel.n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
    fb = filterbank(rate, mel.n_fft, mel.n_mels, mel.fmin, mel.fmax)
    out = np.empty((n, mel.n_mels, frames), dtype=np.float32)
    for i in range(n):
        spec = np.fft.rfft(x[i][idx] * taper, axis=1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        bands = fb @ power.T
        db = 10.0 * np.log10(np.maximum(bands, 1e-10))
        out[i] = np.maximum(db - db.max(), -mel.top_db)
    return out


def images(windows: np.ndarray, rate: int, mel: MelSettings, size: int) -> np.ndarray:
    """(n, samples) windows -> (n, size, size, 3) uint8 sonogram images."""
    db = log_mel(windows, rate, mel)
    out = np.empty((len(db), size, size, 3), dtype=np.uint8)
    for i, d in enumerate(db):
        grey = np.round((d + mel.top_db) * (255.0 / mel.top_db)).astype(np.uint8)[::-1]
        im = Image.fromarray(np.ascontiguousarray(grey), "L")
        out[i] = np.asarray(im.resize((size, size), Image.Resampling.BILINEAR))[:, :, None]
    return out
