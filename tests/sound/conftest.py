"""Recordings for the sound tests: synthetic calls written as real files, the field recording
that the opensoundscape wheel ships (MIT), and bad files made the way they occur."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile", reason="the sound extra (soundfile) is not installed")

from fieldguide.sound.audio import read_recording  # noqa: E402
from fieldguide.sound.settings import SoundSettings  # noqa: E402
from fieldguide.sound.train import train_sound_probe  # noqa: E402

SETTINGS = SoundSettings(sample_rate=32_000, window_s=2.0, hop_s=1.0)

RATE = 22_050
KINDS = ("chirp", "tone", "trill")


def shipped_recording() -> Path | None:
    """opensoundscape's sample_data/birds_10s.wav, found without importing the package."""
    spec = importlib.util.find_spec("opensoundscape")
    where = list(spec.submodule_search_locations or []) if spec else []
    path = Path(where[0]) / "sample_data" / "birds_10s.wav" if where else None
    return path if path is not None and path.is_file() else None


@pytest.fixture(scope="session")
def birds_10s() -> Path:
    path = shipped_recording()
    if path is None:
        pytest.skip("the opensoundscape wheel (its sample recording) is not installed")
    return path


def call(kind: str, seconds: float, rng: np.random.Generator, rate: int = RATE) -> np.ndarray:
    """A synthetic animal call in faint noise: ``tone`` (a steady whistle near 3 kHz),
    ``chirp`` (a sweep up from 1.5 to 6 kHz, repeated) or ``trill`` (a fast pulsed note near
    5 kHz), pitch and timing varied by ``rng``."""
    t = np.arange(int(seconds * rate)) / rate
    if kind == "tone":
        f = 3000 * rng.uniform(0.9, 1.1)
        x = np.sin(2 * np.pi * f * t)
    elif kind == "chirp":
        period = rng.uniform(0.4, 0.6)
        phase = (t % period) / period
        f0, f1 = 1500 * rng.uniform(0.9, 1.1), 6000 * rng.uniform(0.9, 1.1)
        x = np.sin(2 * np.pi * (f0 * phase + (f1 - f0) * phase**2 / 2) * period)
    elif kind == "trill":
        f = 5000 * rng.uniform(0.9, 1.1)
        x = np.sin(2 * np.pi * f * t) * (np.sin(2 * np.pi * rng.uniform(18, 25) * t) > 0.3)
    else:
        raise ValueError(kind)
    return (0.3 * x + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def write_calls(root: Path, kinds: tuple[str, ...], per_class: int, seconds: float,
                seed: int = 0) -> Path:
    """``root/<kind>/<kind>-<i>.wav``: a folder of labelled recordings."""
    rng = np.random.default_rng(seed)
    for kind in kinds:
        (root / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            sf.write(root / kind / f"{kind}-{i}.wav", call(kind, seconds, rng), RATE)
    return root


def ten_hour_flac(path: Path) -> Path:
    """A FLAC whose header announces 10 hours (STREAMINFO's total samples rewritten on a
    3-second file): a limit must refuse it from the header, without decoding."""
    rng = np.random.default_rng(1)
    sf.write(path, (0.1 * rng.standard_normal(3 * 16_000)).astype(np.float32), 16_000)
    body = bytearray(path.read_bytes())
    info = body.index(b"fLaC") + 8  # the STREAMINFO block's data
    total = 10 * 3600 * 16_000
    body[info + 13] = (body[info + 13] & 0xF0) | ((total >> 32) & 0x0F)
    body[info + 14:info + 18] = (total & 0xFFFFFFFF).to_bytes(4, "big")
    path.write_bytes(bytes(body))
    return path


def bad_recordings(folder: Path) -> dict[str, Path]:
    """The bad inputs issue 28 names, each as a file: name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "notes.wav"
    text.write_text("field notes: two wrens by the gate\n")
    rng = np.random.default_rng(2)
    whole = folder / "whole.flac"
    sf.write(whole, (0.1 * rng.standard_normal(4 * 16_000)).astype(np.float32), 16_000)
    truncated = folder / "truncated.flac"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    empty = folder / "empty.wav"
    empty.write_bytes(b"")
    one_hz = folder / "one-hz.wav"
    sf.write(one_hz, np.zeros(50, np.float32), 1)
    return {"text named .wav": text, "truncated FLAC": truncated,
            "10-hour recording": ten_hour_flac(folder / "ten-hours.flac"),
            "zero-length file": empty, "sample rate of 1 Hz": one_hz}


@pytest.fixture(scope="session")
def mel_model(tmp_path_factory: pytest.TempPathFactory, birds_10s: Path) -> Path:
    """A mel-spectrogram probe on lite0 trained here: three synthetic call types, and a
    "field" class of 2-s pieces of the shipped field recording."""
    root = tmp_path_factory.mktemp("mel")
    calls = write_calls(root / "calls", KINDS, per_class=5, seconds=3.0)
    field = calls / "field"
    field.mkdir()
    rec = read_recording(birds_10s, 32_000)
    for i in range(5):
        sf.write(field / f"birds-{i}.wav", rec.samples[i * 64_000:(i + 1) * 64_000], 32_000)
    out = root / "model"
    card = train_sound_probe(calls, out, settings=SETTINGS, cache=root / "encoders")
    assert card.metrics["held_out_top1"] >= 0.75, card.metrics
    return out
