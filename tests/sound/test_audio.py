"""The one audio path: decode, mono, resample, windows, and the limits that refuse what is
not a usable recording (one line each, nothing stored)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from fieldguide.errors import InputError
from fieldguide.sound.audio import (
    AudioLimits,
    load_recording,
    read_header,
    read_recording,
    windows,
)
from fieldguide.sound.keep import keep_recording
from tests.sound.conftest import RATE, bad_recordings, call, sf

REASONS = {"text named .wav": "not a recording libsndfile can read",
           "truncated FLAC": "unreadable recording",
           "10-hour recording": "10.0 hours long",
           "zero-length file": "empty file",
           "sample rate of 1 Hz": "sample rate of 1 Hz"}


@pytest.mark.parametrize("name", sorted(REASONS))
def test_bad_recordings_are_refused_in_one_line_and_nothing_is_kept(tmp_path: Path,
                                                                    name: str) -> None:
    path = bad_recordings(tmp_path / "in")[name]
    with pytest.raises(InputError) as got:
        read_recording(path, 32_000)
    message = str(got.value)
    assert REASONS[name] in message and "\n" not in message and str(path) in message
    assert load_recording(str(path), 32_000) == got.value.reason
    store = tmp_path / "sounds"
    with pytest.raises(InputError, match=re.escape(REASONS[name])):
        keep_recording(path.read_bytes(), "s1", store, 25 * 2**20)
    assert not [p for p in store.rglob("*") if p.is_file()]


def test_ten_hours_are_refused_from_the_header_without_decoding(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    path = bad_recordings(tmp_path)["10-hour recording"]
    monkeypatch.setattr(sf, "read", lambda *a, **k: pytest.fail("decoded a 10-hour file"))
    with pytest.raises(InputError, match=r"10\.0 hours"):
        read_recording(path, 16_000)


def test_size_and_sample_caps_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    sf.write(path, call("tone", 2.0, np.random.default_rng(0)), RATE)
    with pytest.raises(InputError, match="over the 1,000-byte limit"):
        read_header(path, AudioLimits(max_bytes=1000))
    with pytest.raises(InputError, match="44,100 frames x 1 channels is over the 1,000-sample"):
        read_header(path, AudioLimits(max_samples=1000))
    with pytest.raises(InputError, match="recording not found"):
        read_header(tmp_path / "absent.wav")


def test_stereo_is_averaged_and_resampled(tmp_path: Path) -> None:
    t = np.arange(RATE) / RATE
    left = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([left, np.zeros_like(left)], axis=1), RATE)
    rec = read_recording(path, 16_000)
    assert rec.rate == 16_000 and rec.header.channels == 2 and rec.header.rate == RATE
    assert abs(len(rec.samples) - 16_000) <= 1
    assert np.abs(rec.samples).max() == pytest.approx(0.5, abs=0.02)  # one channel of two
    spectrum = np.abs(np.fft.rfft(rec.samples))
    assert np.fft.rfftfreq(len(rec.samples), 1 / 16_000)[spectrum.argmax()] == \
        pytest.approx(440, abs=2)


def test_windows_cover_the_recording(birds_10s: Path) -> None:
    rec = read_recording(birds_10s, 32_000)
    w = windows(rec.samples, rec.rate, 5.0, 2.5)
    assert w.samples.shape == (4, 160_000)
    assert list(w.start_s) == [0.0, 2.5, 5.0, 7.5]
    assert w.end_s[-1] == pytest.approx(rec.seconds)
    np.testing.assert_array_equal(w.samples[1], rec.samples[80_000:240_000])
    short = windows(rec.samples[:32_000], rec.rate, 3.0, 3.0)  # one second: one padded window
    assert short.samples.shape == (1, 96_000) and short.end_s[0] == pytest.approx(1.0)
    assert not short.samples[0, 32_000:].any()
    bird = windows(rec.samples, rec.rate, 3.0, 3.0)  # 10.13 s: the 1.13-s tail is dropped
    assert list(bird.start_s) == [0.0, 3.0, 6.0]
