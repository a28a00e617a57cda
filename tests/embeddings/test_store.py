"""The store on its own: a round trip, keys and lookups, memory-mapped shards, failed photos
recorded once, a store of another encoder refused, and a kill between a shard's two files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fieldguide.embeddings import EmbeddingStore, EncoderIdentity, extend, photo_key
from fieldguide.embeddings.store import SHARDS, StoreWriter
from fieldguide.errors import InputError

IDENTITY = EncoderIdentity.of("tiny", "fixed", {"size": 8}, "ab" * 32)


def _files(tmp_path: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        p = tmp_path / "photos" / f"{i}.bin"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(bytes([i % 256]) * (i + 1))
        paths.append(p)
    return paths


def _compute(calls: list[int]):  # type: ignore[no-untyped-def]
    """Vectors from the file's size; files named 'bad' fail."""
    def compute(paths: list[str]) -> tuple[np.ndarray, list[str]]:
        calls.append(len(paths))
        sizes = np.array([Path(p).stat().st_size for p in paths], dtype=np.float32)
        vectors = np.stack([sizes, sizes / 2, -sizes], axis=1)
        errors = ["cannot decode" if "bad" in Path(p).name else "" for p in paths]
        vectors[[bool(e) for e in errors]] = np.nan  # as the runner gives them
        return vectors, errors

    return compute


def test_round_trip_and_lookup(tmp_path: Path) -> None:
    paths = _files(tmp_path, 10)
    calls: list[int] = []
    store = extend(tmp_path / "store", IDENTITY, paths, _compute(calls), chunk_size=4)
    assert calls == [4, 4, 2] and len(store) == 10 and store.width == 3
    assert [len(s) for s in store.shards()] == [4, 4, 2]
    assert all(isinstance(s, np.memmap) and not s.flags.writeable for s in store.shards())
    again = EmbeddingStore.open(tmp_path / "store", IDENTITY)
    assert again.identity == IDENTITY and again.keys() == [photo_key(p) for p in paths]
    rows, found = again.lookup([photo_key(paths[7]), "nope", photo_key(paths[1])])
    assert rows.tolist() == [7, -1, 1] and found.tolist() == [True, False, True]
    np.testing.assert_array_equal(again.vectors([7, 1]), [[8, 4, -8], [2, 1, -2]])
    vectors, found = again.gather([photo_key(p) for p in paths])
    np.testing.assert_array_equal(vectors[:, 0], np.arange(1, 11))
    extend(tmp_path / "store", IDENTITY, paths, _compute(calls), chunk_size=4)
    assert calls == [4, 4, 2]  # nothing new: nothing computed


def test_only_new_or_changed_photos_are_embedded(tmp_path: Path) -> None:
    paths = _files(tmp_path, 6)
    calls: list[int] = []
    extend(tmp_path / "store", IDENTITY, paths[:4], _compute(calls))
    paths[0].write_bytes(b"longer content now")  # a changed file is a new photo
    store = extend(tmp_path / "store", IDENTITY, [*paths, paths[5]], _compute(calls))
    assert calls == [4, 3] and len(store) == 7
    vectors, found = store.gather([photo_key(paths[0])])
    assert found.all() and vectors[0, 0] == len(b"longer content now")


def test_failed_photos_are_recorded_not_retried(tmp_path: Path) -> None:
    paths = _files(tmp_path, 3)
    bad = tmp_path / "photos" / "bad.jpg"
    bad.write_bytes(b"\xff\xd8")
    calls: list[int] = []
    store = extend(tmp_path / "store", IDENTITY, [*paths, bad], _compute(calls))
    assert len(store) == 3 and store.failed() == {photo_key(bad): "cannot decode"}
    assert np.isfinite(np.concatenate(store.shards())).all()  # no NaN rows in the shards
    extend(tmp_path / "store", IDENTITY, [*paths, bad], _compute(calls))
    assert calls == [4]
    bad.write_bytes(b"\xff\xd8\xff")  # the file changed: tried again
    extend(tmp_path / "store", IDENTITY, [*paths, bad], _compute(calls))
    assert calls == [4, 1]


def test_a_store_of_another_encoder_is_refused(tmp_path: Path) -> None:
    paths = _files(tmp_path, 2)
    extend(tmp_path / "store", IDENTITY, paths, _compute([]))
    other = EncoderIdentity.of("tiny", "fixed", {"size": 8}, "cd" * 32)
    with pytest.raises(InputError, match="another encoder") as err:
        extend(tmp_path / "store", other, paths, _compute([]))
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="another encoder"):
        EmbeddingStore.open(tmp_path / "store", other)
    (tmp_path / "not-a-store").mkdir()
    (tmp_path / "not-a-store" / "x.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        extend(tmp_path / "not-a-store", IDENTITY, paths, _compute([]))


def test_a_shard_without_its_index_is_redone(tmp_path: Path) -> None:
    """A kill after a shard's vectors but before its index: that shard is written again,
    every photo once; a stale temporary file is swept away."""
    paths = _files(tmp_path, 6)
    calls: list[int] = []
    extend(tmp_path / "store", IDENTITY, paths, _compute(calls), chunk_size=2)
    shards = tmp_path / "store" / SHARDS
    (shards / "000002.json").unlink()
    (shards / ".000002.npy.999.tmp").write_bytes(b"half")
    store = extend(tmp_path / "store", IDENTITY, paths, _compute(calls), chunk_size=2)
    assert calls == [2, 2, 2, 2] and sorted(store.keys()) == sorted(photo_key(p) for p in paths)
    assert not list(shards.glob(".*.tmp"))


def test_writer_refuses_vectors_of_another_width(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "store", IDENTITY)
    writer.add(["a"], np.ones((1, 3), np.float32), [""])
    with pytest.raises(ValueError, match="3"):
        writer.add(["b"], np.ones((1, 4), np.float32), [""])
    with pytest.raises(ValueError, match="NaN"):
        writer.add(["c"], np.full((1, 3), np.nan, np.float32), [""])
