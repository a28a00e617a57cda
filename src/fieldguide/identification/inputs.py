"""What to identify: a CSV/Parquet listing, a folder of photos, or a study's photos table,
read into one listing with stable photo ids (the resume key) in a stable order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif"}


@dataclass
class Photos:
    """Photos in input order; ``latitude``/``longitude`` NaN and ``label`` "" when unknown."""

    photo_id: list[str]
    path: list[str]
    observation_id: list[str]
    latitude: np.ndarray
    longitude: np.ndarray
    label: list[str]

    def __len__(self) -> int:
        return len(self.photo_id)


def _text(values: list[Any] | None, n: int, default: list[str] | None = None) -> list[str]:
    if values is None:
        return default if default is not None else [""] * n
    return ["" if v is None else str(v) for v in values]


def _floats(values: list[Any] | None, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan)
    return np.array([np.nan if v is None or v == "" else float(v) for v in values])


def from_columns(cols: dict[str, list[Any]], base: Path, where: Path) -> Photos:
    """Columns photo_id (default: path), path, observation_id (default: photo_id), latitude,
    longitude, label; relative paths are read from ``base``."""
    if "path" not in cols:
        raise InputError("missing column 'path'", path=where, field="path")
    paths = _text(cols["path"], 0)
    n = len(paths)
    ids = _text(cols.get("photo_id"), n, paths)
    if len(set(ids)) != n:
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InputError(f"photo_id {dup!r} appears twice", path=where, field="photo_id")
    full = [p if not p or Path(p).is_absolute() else str(base / p) for p in paths]
    label = cols.get("label", cols.get("taxon"))
    return Photos(ids, full, _text(cols.get("observation_id"), n, ids),
                  _floats(cols.get("latitude"), n), _floats(cols.get("longitude"), n),
                  _text(label, n))


def read_table(path: Path) -> dict[str, list[Any]]:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if path.suffix == ".parquet":
        table = pq.read_table(path)
    else:
        opts = pcsv.ConvertOptions(strings_can_be_null=True, column_types={
            "photo_id": "string", "observation_id": "string", "path": "string"})
        table = pcsv.read_csv(path, convert_options=opts)
    return {name: table.column(name).to_pylist() for name in table.column_names}


def _folder(root: Path) -> Photos:
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    rel = [p.relative_to(root).as_posix() for p in files]
    return from_columns({"photo_id": rel, "path": rel}, root, root)


def _study(root: Path) -> Photos:
    from fieldguide.store import Study

    with Study(root, create=False, read_only=True) as s:
        table = s.con.sql(
            "SELECT p.photo_id, p.path, p.observation_id, o.latitude, o.longitude "
            "FROM photos p LEFT JOIN observations o USING (observation_id) "
            "WHERE p.path IS NOT NULL ORDER BY p.observation_id, p.position, p.photo_id"
        ).to_arrow_table()
    cols = {name: table.column(name).to_pylist() for name in table.column_names}
    return from_columns(cols, root, root)


def read_photos(source: Path, split: str | None = None) -> Photos:
    """A listing from a CSV/Parquet file, a study folder or a photo folder; ``split`` keeps
    the rows of a listing whose ``split`` column has that value (e.g. a manifest's test)."""
    source = Path(source)
    if source.is_dir():
        from fieldguide.store.study import DB_NAME

        return _study(source) if (source / DB_NAME).exists() else _folder(source)
    if not source.is_file():
        raise InputError("input not found", path=source)
    cols = read_table(source)
    if split is not None:
        if "split" not in cols:
            raise InputError("no 'split' column", path=source, field="split")
        keep = [i for i, s in enumerate(cols["split"]) if s == split]
        cols = {k: [v[i] for i in keep] for k, v in cols.items()}
    return from_columns(cols, source.parent, source)
