from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fieldguide.curation import parse_spec, select
from fieldguide.curation.dedup import dhash, near_pairs
from fieldguide.errors import InputError
from fieldguide.store import Study
from tests.curation.conftest import add_observations


def test_near_pairs_finds_all_pairs_within_distance() -> None:
    rng = np.random.default_rng(0)
    hashes = [int(x) for x in rng.integers(0, 2**63, size=200)]
    hashes.append(hashes[0] ^ 0b1011)  # 3 bits from hash 0
    hashes.append(hashes[5] ^ (1 << 63))  # 1 bit from hash 5
    brute = [(i, j) for i in range(len(hashes)) for j in range(i + 1, len(hashes))
             if (hashes[i] ^ hashes[j]).bit_count() <= 4]
    assert near_pairs(hashes, 4) == brute == [(0, 200), (5, 201)]


def _image(path: Path, seed: int, brighten: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    pixels = np.clip(rng.integers(0, 200, size=(48, 64, 3)) + brighten, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).resize((128, 96)).save(path)
    return path


def test_duplicates_exact_near_missing_and_urls(study: Study, tmp_path: Path) -> None:
    a = _image(tmp_path / "a.png", 1)
    (tmp_path / "a_copy.png").write_bytes(a.read_bytes())
    _image(tmp_path / "a_bright.png", 1, brighten=20)
    _image(tmp_path / "b.png", 2)
    add_observations(study, [{"id": f"o{i}", "taxon": 4, "observer": "x"} for i in range(6)])
    paths = ["a.png", "a_copy.png", "a_bright.png", "b.png", "gone.png"]
    for i, name in enumerate(paths):
        study.con.execute("UPDATE photos SET path = ?, url = NULL WHERE photo_id = ?",
                          [str(tmp_path / name), f"o{i}-0"])
    assert (dhash(a) ^ dhash(tmp_path / "a_bright.png")).bit_count() <= 4
    step = {"rule": "duplicates", "max_distance": 4}
    records = select(study, parse_spec({"name": "t", "step": [step]}))
    notes = " ".join(records[1].notes)
    assert "1 photo(s) known only by URL" in notes
    assert "1 group(s) of identical files; 1 near-duplicate pair(s)" in notes
    assert "1 photo file(s) not found" in notes and "gone.png" in notes
    kept = {r[0] for r in study.con.execute("SELECT photo_id FROM fg_ds").fetchall()}
    assert kept == {"o0-0", "o3-0", "o4-0", "o5-0"}  # copy and near copy dropped; missing kept
    select(study, parse_spec({"name": "t", "step": [{**step, "missing": "drop", "drop": False}]}))
    kept = {r[0] for r in study.con.execute("SELECT photo_id FROM fg_ds").fetchall()}
    assert kept == {"o0-0", "o1-0", "o2-0", "o3-0", "o5-0"}
    with pytest.raises(InputError, match=r"gone\.png"):
        select(study, parse_spec({"name": "t", "step": [{**step, "missing": "error"}]}))
