"""The index folder: build, open memory-mapped, add, refuse another model, crash safety."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fieldguide.errors import InputError
from fieldguide.search import (
    Entries,
    ModelIdentity,
    append,
    open_index,
    similar,
    store,
    write_index,
)
from tests.search.conftest import LINEAGE, MODEL, SPECIES, clustered


def _write(folder: Path, entries: Entries, **kw: Any) -> store.Index:
    return write_index(folder, entries, model=MODEL, classes=SPECIES, lineage=LINEAGE, **kw)


def _part(e: Entries, rows: slice) -> Entries:
    return Entries(e.photo_id[rows], e.observation_id[rows], e.path[rows], e.label[rows],
                   e.embeddings[rows], e.logits[rows])


def test_build_and_open(tmp_path: Path) -> None:
    e = clustered(10)
    _write(tmp_path / "ix", e, temperature=1.5)
    ix = open_index(tmp_path / "ix")
    info = json.loads((tmp_path / "ix" / "index.json").read_text())
    assert info["model"] == MODEL.to_dict() and info["kind"] == "flat" and info["count"] == 40
    assert ix.layout.temperature == 1.5 and len(ix) == 40
    assert ix.column("photo_id") == e.photo_id and ix.column("label") == e.label
    assert ix.column("predicted") == e.label  # the logits favour the truth
    np.testing.assert_allclose(np.linalg.norm(ix.vectors(np.arange(40)), axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(ix.logits, e.logits)
    assert isinstance(ix.logits, np.memmap)
    found = similar(ix, e.embeddings[:3], k=1)
    assert found.rows[:, 0].tolist() == [0, 1, 2]  # each photo is its own nearest
    with pytest.raises(InputError, match="already here"):
        _write(tmp_path / "ix", e)


def test_ivf_chosen_beyond_the_flat_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "FLAT_LIMIT", 100)
    e = clustered(100)  # 400 vectors
    ix = _write(tmp_path / "ix", e)
    assert ix.layout.kind == "ivf" and ix.layout.nlist == 10
    exact = _write(tmp_path / "flat", e, kind="flat")
    got = similar(ix, e.embeddings[:50], k=10, nprobe=10)  # every list
    want = similar(exact, e.embeddings[:50], k=10)
    # the lists hold 8-bit codes: every list probed is exact up to quantisation (near ties
    # may swap), and each photo is still its own nearest
    overlap = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got.rows, want.rows,
                                                                  strict=True)])
    assert overlap >= 0.95
    assert got.rows[:, 0].tolist() == list(range(50))


def test_add_skips_known_photos_and_switches_to_ivf(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    e = clustered(60)  # 240
    ix = _write(tmp_path / "ix", _part(e, slice(0, 80)))
    ix = append(ix, _part(e, slice(40, 120)), MODEL)  # 40 known, 40 new
    assert len(ix) == 120 and ix.layout.generation == 2 and ix.layout.kind == "flat"
    assert ix.column("photo_id") == e.photo_id[:120]
    assert sorted(p.name for p in (tmp_path / "ix").iterdir()) == [
        "index.2.faiss", "index.json", "logits.2.npy", "meta.2.parquet"]
    monkeypatch.setattr(store, "FLAT_LIMIT", 150)
    ix = append(ix, _part(e, slice(120, 240)), MODEL)
    assert len(ix) == 240 and ix.layout.kind == "ivf"
    assert similar(ix, e.embeddings[200:201], k=1, nprobe=ix.layout.nlist).rows[0, 0] == 200
    np.testing.assert_array_equal(ix.logits, e.logits)


def test_refuses_embeddings_of_another_model(tmp_path: Path) -> None:
    e = clustered(5)
    ix = _write(tmp_path / "ix", _part(e, slice(0, 10)))
    other = ModelIdentity("synthetic", "2", "1" * 64, 16)
    with pytest.raises(InputError, match="not comparable"):
        append(ix, _part(e, slice(10, 20)), other)


def test_a_crash_during_add_leaves_the_index_as_it_was(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    e = clustered(10)
    ix = _write(tmp_path / "ix", _part(e, slice(0, 20)))

    def crash(*args: object, **kw: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(json, "dumps", crash)
    with pytest.raises(OSError):
        append(ix, _part(e, slice(20, 40)), MODEL)
    monkeypatch.undo()
    again = open_index(tmp_path / "ix")
    assert len(again) == 20 and again.layout.generation == 1
    assert len(append(again, _part(e, slice(20, 40)), MODEL)) == 40


def test_bad_folders(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no index\.json"):
        open_index(tmp_path)
    _write(tmp_path / "ix", clustered(5))
    (tmp_path / "ix" / "meta.1.parquet").unlink()
    with pytest.raises(InputError, match="index file missing"):
        open_index(tmp_path / "ix")
    with pytest.raises(InputError, match="kind"):
        _write(tmp_path / "other", clustered(5), kind="hnsw")
