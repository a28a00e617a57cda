"""The one table reader and the one atomic write, on real files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fieldguide.errors import InputError
from fieldguide.inputs import read_columns, read_table
from fieldguide.inputs.files import atomic_path, file_sha256


def test_csv_ids_stay_text_and_empty_cells_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "photos.csv"
    path.write_text("photo_id,observation_id,path,split,latitude\n007,12,a.jpg,,51.5\n"
                    "8,13,b.jpg,test,\n")
    cols = read_columns(path)
    assert cols["photo_id"] == ["007", "8"] and cols["observation_id"] == ["12", "13"]
    assert cols["split"] == [None, "test"] and cols["latitude"] == [51.5, None]


def test_parquet_is_read_as_written(tmp_path: Path) -> None:
    path = tmp_path / "m.PARQUET"
    pq.write_table(pa.table({"photo_id": [1, 2], "taxon": ["a", None]}), path)
    assert read_columns(path) == {"photo_id": [1, 2], "taxon": ["a", None]}


@pytest.mark.parametrize(
    ("content", "reason", "line"),
    [(b"a,b\n1,2\n3,caf\xe9\n", "UTF-8", 3), (b"a,b\n1,2\n3\n", "unreadable manifest", None)],
)
def test_bad_tables_are_one_line_errors(tmp_path: Path, content: bytes, reason: str,
                                        line: int | None) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=reason) as err:
        read_table(path, what="manifest")
    assert err.value.path == str(path) and err.value.line == line
    assert "\n" not in str(err.value)


def test_missing_file_and_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="manifest not found"):
        read_table(tmp_path / "none.csv", what="manifest")
    with pytest.raises(InputError, match="is a folder"):
        read_table(tmp_path)


def test_atomic_path_in_a_scratch_folder_leaves_nothing_beside_the_file(tmp_path: Path) -> None:
    scratch = tmp_path / ".tmp"
    scratch.mkdir()
    out = tmp_path / "ab" / "photo.jpg"
    with atomic_path(out, scratch=scratch) as tmp:
        assert tmp.parent == scratch
        tmp.write_bytes(b"jpeg")
    assert out.read_bytes() == b"jpeg" and not list(scratch.iterdir())
    assert os.listdir(out.parent) == ["photo.jpg"]
    with pytest.raises(RuntimeError), atomic_path(out, scratch=scratch) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError
    assert out.read_bytes() == b"jpeg" and not list(scratch.iterdir())
    assert file_sha256(out) == hashlib.sha256(b"jpeg").hexdigest()
