"""What to identify: a CSV/Parquet listing, a folder of photos, or a study's photos table,
read into one listing with stable photo ids (the resume key) in a stable order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.posterior import Context
from fieldguide.inputs.tables import read_columns


@dataclass
class Photos:
    """Photos in input order; ``latitude``/``longitude``/``day_of_year`` NaN and ``label``
    "" when unknown; ``url`` "" unless the listing has one (a photo not yet fetched);
    ``region`` the ISO 3166 code of the place ("GB-ENG" or "GB"; "" when unknown), for
    place lists."""

    photo_id: list[str]
    path: list[str]
    observation_id: list[str]
    latitude: np.ndarray
    longitude: np.ndarray
    label: list[str]
    day_of_year: np.ndarray = field(default_factory=lambda: np.zeros(0))
    url: list[str] = field(default_factory=list)
    region: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.photo_id)
        if len(self.day_of_year) != n:
            self.day_of_year = np.full(n, np.nan)
        if len(self.url) != n:
            self.url = [""] * n
        if len(self.region) != n:
            self.region = [""] * n

    def __len__(self) -> int:
        return len(self.photo_id)

    def context(self) -> Context:
        """Place and season of each photo, for the priors."""
        return Context(self.latitude, self.longitude, self.day_of_year,
                       np.array(self.region, dtype=object))

    @property
    def url_only(self) -> int:
        """How many photos have no file on disk yet (only a URL, or nothing)."""
        return sum(1 for p in self.path if not p)


def _text(values: list[Any] | None, n: int, default: list[str] | None = None) -> list[str]:
    if values is None:
        return default if default is not None else [""] * n
    return ["" if v is None else str(v) for v in values]


def floats(values: list[Any] | None, n: int, where: Path, name: str) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan)
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if v is None or v == "":
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise InputError(f"not a number: {str(v)[:40]!r}", path=where, line=i + 2,
                             field=name) from None
    return out


def day_of_year(values: list[Any] | None, n: int, where: Path) -> np.ndarray:
    """1..366 from ISO dates (``2021-06-03`` or a timestamp starting so); NaN when empty.
    A date that does not parse, or lies in the future, is refused with its line."""
    out = np.full(n, np.nan)
    if values is None:
        return out
    today = date.today()
    for i, v in enumerate(values):
        if v is None or v == "":
            continue
        try:
            d = v if isinstance(v, date) else date.fromisoformat(str(v).strip()[:10])
        except ValueError:
            raise InputError(f"not a date: {str(v)[:40]!r} (use YYYY-MM-DD)", path=where,
                             line=i + 2, field="observed_on") from None
        if d > today:
            raise InputError(f"date {d} is in the future", path=where, line=i + 2,
                             field="observed_on")
        out[i] = d.timetuple().tm_yday
    return out


def from_columns(cols: dict[str, list[Any]], base: Path, where: Path) -> Photos:
    """Columns photo_id (default: path), path, observation_id (default: photo_id), latitude,
    longitude, observed_on, label, url, region (ISO 3166-2, e.g. GB-ENG) or country (ISO
    3166-1 alpha-2); relative paths are read from ``base``. A row with
    no path (a photo known only by URL) is kept: it becomes an error row, not a crash."""
    if "path" not in cols:
        raise InputError("missing column 'path'", path=where, field="path")
    paths = _text(cols["path"], 0)
    n = len(paths)
    ids = _text(cols.get("photo_id"), n, paths)
    if "photo_id" not in cols and "" in ids:
        raise InputError("a row has neither a path nor a photo_id", path=where,
                         line=ids.index("") + 2, field="path")
    seen: set[str] = set()
    for i, pid in enumerate(ids):
        if pid in seen:
            raise InputError(f"photo_id {pid!r} appears twice", path=where, line=i + 2,
                             field="photo_id")
        seen.add(pid)
    full = [p if not p or Path(p).is_absolute() else str(base / p) for p in paths]
    label = cols.get("label", cols.get("taxon"))
    return Photos(ids, full, _text(cols.get("observation_id"), n, ids),
                  floats(cols.get("latitude"), n, where, "latitude"),
                  floats(cols.get("longitude"), n, where, "longitude"), _text(label, n),
                  day_of_year(cols.get("observed_on", cols.get("date")), n, where),
                  _text(cols.get("url"), n), regions(cols, n))


def regions(cols: dict[str, list[Any]], n: int) -> list[str]:
    """Each row's ISO 3166 code, upper case: its ``region`` where given, else its
    ``country``; "" when neither."""
    region, country = _text(cols.get("region"), n), _text(cols.get("country"), n)
    return [(r or c).strip().upper() for r, c in zip(region, country, strict=True)]


def embedded_listing(cols: dict[str, list[Any]], where: Path) -> Photos:
    """The listing of an embeddings file's rows (its photos were embedded elsewhere, so they
    have no path): photo_id, observation_id (default: photo_id), latitude, longitude,
    observed_on and the label (``taxon``), as :func:`from_columns` reads them."""
    ids = _text(cols["photo_id"], 0)
    n = len(ids)
    return Photos(ids, [""] * n, _text(cols.get("observation_id"), n, ids),
                  floats(cols.get("latitude"), n, where, "latitude"),
                  floats(cols.get("longitude"), n, where, "longitude"),
                  _text(cols.get("label", cols.get("taxon")), n),
                  day_of_year(cols.get("observed_on", cols.get("date")), n, where))


read_table = read_columns  # the one table reader, fieldguide.inputs.tables


def _folder(root: Path) -> Photos:
    """Every file under ``root`` but hidden ones (names starting with "."), whatever its
    suffix: a photo that cannot be read (a HEIC, a text file named .jpg, a truncated JPEG)
    gets an error row, never silently no row."""
    files = sorted(p for p in root.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    rel = [p.relative_to(root).as_posix() for p in files]
    return from_columns({"photo_id": rel, "path": rel}, root, root)


# The media tables a study listing reads: table -> its id column (constants, never input).
_MEDIA = {"photos": "photo_id", "sounds": "sound_id"}


def study_media(root: Path, table: str = "photos") -> Photos:
    """Every photo (or recording: ``table="sounds"``) of a study with its observation's place
    and date, ids in ``photo_id``; one not yet fetched has no path and becomes an error row."""
    from fieldguide.store import Study

    key = _MEDIA[table]
    with Study(root, create=False, read_only=True) as s:
        got = s.con.sql(
            f"SELECT m.{key} AS photo_id, coalesce(m.path, '') AS path, m.observation_id, "
            "o.latitude, o.longitude, CAST(o.observed_on AS DATE) AS observed_on, m.url "
            f"FROM {table} m LEFT JOIN observations o USING (observation_id) "
            f"ORDER BY m.observation_id, m.position, m.{key}"
        ).to_arrow_table()
    cols = {name: got.column(name).to_pylist() for name in got.column_names}
    return from_columns(cols, root, root)


def read_photos(source: Path, split: str | None = None) -> Photos:
    """A listing from a CSV/Parquet file, a study folder or a photo folder; ``split`` keeps
    the rows of a listing whose ``split`` column has that value (e.g. a manifest's test)."""
    source = Path(source)
    if source.is_dir():
        from fieldguide.store.study import DB_NAME

        return study_media(source) if (source / DB_NAME).exists() else _folder(source)
    if not source.is_file():
        raise InputError("input not found", path=source)
    cols = read_table(source)
    if split is not None:
        if "split" not in cols:
            raise InputError("no 'split' column", path=source, field="split")
        keep = [i for i, s in enumerate(cols["split"]) if s == split]
        cols = {k: [v[i] for i in keep] for k, v in cols.items()}
    return from_columns(cols, source.parent, source)
