"""The one pixel path: orientation, colour modes, reduced-scale JPEG decoding, bad input."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fieldguide.models.pixels import Crop, load_crop, normalise, to_rgb

CROP = Crop(size=8, crop_pct=1.0, interpolation="bilinear")


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that claims width x height 1-bit pixels (a few bytes on disk)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))
    return path


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    """A landscape file tagged 'rotate 90' comes out portrait: left half red ends on top."""
    a = np.zeros((16, 32, 3), np.uint8)
    a[:, :16] = (255, 0, 0)
    a[:, 16:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    Image.fromarray(a).save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = load_crop(tmp_path / "r.jpg", Crop(16, 1.0, "bilinear"))
    assert isinstance(out, np.ndarray) and out.shape == (16, 16, 3)
    assert out[1, 8, 0] > 200 and out[-2, 8, 2] > 200  # red on top, blue at the bottom


@pytest.mark.parametrize("mode", ["CMYK", "L", "1", "P", "LA", "RGBA", "I;16", "I", "F"])
def test_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    im = Image.new("RGB", (12, 10), (200, 100, 50)).convert(mode) if mode not in (
        "I;16", "I", "F") else Image.new(mode, (12, 10))
    fmt = "tiff" if mode in ("CMYK", "I;16", "I", "F") else "png"
    im.save(tmp_path / f"x.{fmt}")
    out = load_crop(tmp_path / f"x.{fmt}", CROP)
    assert isinstance(out, np.ndarray) and out.shape == (8, 8, 3) and out.dtype == np.uint8


def test_sixteen_bit_is_scaled_not_clipped() -> None:
    im = Image.fromarray(np.full((4, 4), 32768, np.uint16))
    assert im.mode.startswith("I;16")
    assert to_rgb(im).getpixel((0, 0)) == (128, 128, 128)


def test_transparency_lies_on_white() -> None:
    im = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert to_rgb(im).getpixel((0, 0)) == (255, 255, 255)
    p = Image.new("P", (4, 4), 0)
    p.info["transparency"] = 0
    assert to_rgb(p).getpixel((0, 0)) == (255, 255, 255)


def test_draft_decoding_matches_full_decoding(tmp_path: Path) -> None:
    """1024x768 decoded at 1/2 or smaller scale gives nearly the same crop."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    Image.fromarray(base).resize((1024, 768), Image.Resampling.BICUBIC).save(tmp_path / "b.jpg")
    crop = Crop(224, 0.875, "bicubic")
    fast, full = load_crop(tmp_path / "b.jpg", crop), load_crop(tmp_path / "b.jpg", crop, False)
    assert isinstance(fast, np.ndarray) and isinstance(full, np.ndarray)
    assert np.abs(fast.astype(int) - full.astype(int)).mean() < 3.0


def test_bad_inputs_give_reasons(tmp_path: Path) -> None:
    Image.new("RGB", (64, 64), (10, 200, 10)).save(tmp_path / "ok.jpg")
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.jpg").write_text("not a photo\n")
    (tmp_path / "empty.jpg").write_bytes(b"")
    bomb = png_header_only(tmp_path / "bomb.png", 50_000, 50_000)
    reasons = {name: load_crop(tmp_path / name, CROP)
               for name in ("missing.jpg", "cut.jpg", "text.jpg", "empty.jpg")}
    assert reasons == {"missing.jpg": "missing file", "cut.jpg": reasons["cut.jpg"],
                       "text.jpg": "not an image", "empty.jpg": "not an image (empty file)"}
    assert "truncated" in str(reasons["cut.jpg"]).lower()
    assert str(load_crop(bomb, CROP)).startswith("decompression bomb")
    assert isinstance(load_crop(tmp_path / "ok.jpg", CROP), np.ndarray)


def test_bomb_warning_range_is_refused_too(tmp_path: Path) -> None:
    big = png_header_only(tmp_path / "big.png", 10_000, 10_000)  # 1x..2x the limit: a warning
    with pytest.warns(Image.DecompressionBombWarning):
        assert str(load_crop(big, CROP)).startswith("decompression bomb: 10000x10000")


def test_normalise_matches_the_formula() -> None:
    batch = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
    out = normalise(batch, (0.5, 0.4, 0.3), (0.2, 0.25, 0.5))
    want = (batch / 255.0 - np.array([0.5, 0.4, 0.3])) / np.array([0.2, 0.25, 0.5])
    assert out.shape == (2, 3, 2, 2)
    np.testing.assert_allclose(out, want.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-5)


def test_limits_are_checked_before_decoding(tmp_path: Path) -> None:
    """Bytes, pixels and aspect ratio are refused from the header: a 40000 x 10 strip is no
    photo, and a file over the byte cap is not even opened."""
    from fieldguide.models.pixels import ImageLimits

    strip = png_header_only(tmp_path / "strip.png", 40_000, 10)
    assert str(load_crop(strip, CROP)).startswith("aspect ratio 4000:1")
    Image.new("RGB", (64, 64)).save(tmp_path / "ok.jpg")
    small = ImageLimits(max_bytes=100)
    assert "over the 100-byte limit" in str(load_crop(tmp_path / "ok.jpg", CROP, limits=small))
    assert load_crop("", CROP).startswith("no file path")  # type: ignore[union-attr]
    assert "not a regular file" in str(load_crop(tmp_path, CROP))


def test_heic_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.heic").write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic")
    assert "HEIC" in str(load_crop(tmp_path / "x.heic", CROP))


def test_bytes_decode_like_files(tmp_path: Path) -> None:
    Image.new("RGB", (20, 12), (200, 10, 10)).save(tmp_path / "r.png")
    a = load_crop(tmp_path / "r.png", CROP)
    b = load_crop((tmp_path / "r.png").read_bytes(), CROP)
    assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and (a == b).all()
