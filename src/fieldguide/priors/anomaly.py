"""Anomaly scores: how unexpected each record's taxon is at its place and date, by a prior.

iNaturalist's open-data observations carry an ``anomaly_score`` (the taxon not expected
there); this is the same idea over any prior of :data:`fieldguide.priors.PRIORS`, through the
two things every prior answers for a taxon at a place and day (no method-specific code):

- ``expected_nearby``: the prior's own nearby rule (counts: a record of the taxon within
  1000 km and 45 days; sinr: its presence over the F1-optimal threshold);
- ``geo_score`` in [0, 1]: how much the place and season favour the taxon (counts: lift
  / (1 + lift), 0.5 where the prior has no records; sinr: the presence probability).

``anomaly_score = 0.5 * (not expected_nearby) + 0.5 * (1 - geo_score)``, in [0, 1]. Why both
halves: the nearby rule is the evidence that matters most (a taxon recorded nowhere near, in
that season, is what a person should look at) but it is yes-or-no, so records would tie in two
heaps; the geo score orders the records within each heap. So a score of 0.5 or more means the
prior does not expect the taxon there and then, and within each half a higher score means a
place that favours the taxon less. Only records with usable coordinates and a usable date are
scored (nothing is guessed, as everywhere in the priors); the others are counted by reason.

Records are read from a CSV or Parquet table: ``observation_id`` (or iNaturalist's ``id``),
``taxon`` (or ``scientific_name``), ``latitude``, ``longitude``, ``observed_on``; so an
iNaturalist export is read as it is. The scores file has one writer (:func:`write_anomalies`)
and one reader (:func:`read_anomalies`), which the ``anomalies`` curation rule uses.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fieldguide.errors import InputError
from fieldguide.identification.posterior import Context
from fieldguide.priors.prior import PlaceSeasonPrior, clean_context

#: Accepted names of each column, the first found is read.
ALIASES = {"observation_id": ("observation_id", "id"), "taxon": ("taxon", "scientific_name"),
           "latitude": ("latitude",), "longitude": ("longitude",),
           "observed_on": ("observed_on",)}
COLUMNS = ("observation_id", "taxon", "latitude", "longitude", "observed_on", "anomaly_score",
           "expected_nearby", "geo_score")


@dataclass
class Records:
    """Located, dated records against a prior's taxa (``taxon`` indexes ``prior.names``);
    ``skipped`` counts the rows left out, by reason."""

    observation_id: list[str]
    taxon: NDArray[np.int64]
    latitude: NDArray[np.float64]
    longitude: NDArray[np.float64]
    observed_on: list[str]
    day_of_year: NDArray[np.float64]
    skipped: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.observation_id)

    @property
    def context(self) -> Context:
        return Context(self.latitude, self.longitude, self.day_of_year)


@dataclass(frozen=True)
class Anomalies:
    """Per record: the score (see module doc) and its two parts."""

    anomaly_score: NDArray[np.float64]
    expected_nearby: NDArray[np.bool_]
    geo_score: NDArray[np.float64]


def anomaly_scores(prior: PlaceSeasonPrior, taxon: NDArray[np.int64],
                   context: Context) -> Anomalies:
    """Score records of prior taxa ``taxon`` at ``context`` (one taxon at a time, so memory is
    one column per record whatever the prior's size). Rows the prior cannot place or date get
    NaN."""
    ctx = clean_context(context)
    n = len(taxon)
    geo = np.full(n, np.nan)
    near = np.zeros(n, dtype=bool)
    usable = ~(np.isnan(ctx.latitude) | np.isnan(ctx.day_of_year))
    for k in np.unique(taxon[usable & (taxon >= 0)]):
        rows = np.flatnonzero(usable & (taxon == k))
        sub = Context(ctx.latitude[rows], ctx.longitude[rows], ctx.day_of_year[rows])
        cols = np.array([k], dtype=np.int64)
        _, score, used = prior.evaluate(sub, cols)
        geo[rows] = np.where(used, score[:, 0], np.nan)
        near[rows] = prior.nearby(sub, cols, score)[:, 0] & used
    anomaly = 0.5 * (~near) + 0.5 * (1.0 - geo)
    return Anomalies(anomaly, near, geo)


def _did_you_mean(name: str, names: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _pick(cols: dict[str, list[Any]], key: str, path: Path) -> list[Any]:
    for name in ALIASES[key]:
        if name in cols:
            return cols[name]
    raise InputError(f"missing column {key!r} (or {', '.join(ALIASES[key][1:]) or 'none'})",
                     path=path, field=key)


def _number(value: Any, path: Path, line: int, name: str) -> float:
    if value is None or value == "":
        return float("nan")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        raise InputError(f"{value!r} is not a number", path=path, line=line,
                         field=name) from None


def _day(value: Any, today: dt.date) -> tuple[str, float, str | None]:
    """(date text, day of year, skip reason or None)."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        day = value
    else:
        text = "" if value is None else str(value).strip()[:10]
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            return text, float("nan"), "no usable date"
    if day > today:
        return day.isoformat(), float("nan"), "date in the future"
    return day.isoformat(), float(day.timetuple().tm_yday), None


def read_records(path: str | Path, names: list[str], today: dt.date | None = None) -> Records:
    """Read a records table against the prior's taxon ``names`` (see module doc). Rows of a
    taxon the prior does not know, or without usable coordinates or date, are skipped and
    counted; a file where no row names a known taxon is refused (with the closest name), as is
    a coordinate that is not a number (naming its line)."""
    from fieldguide.inputs.tables import read_columns

    p = Path(path)
    cols = read_columns(p, what="records table")
    ids, taxa = _pick(cols, "observation_id", p), _pick(cols, "taxon", p)
    lats, lons = _pick(cols, "latitude", p), _pick(cols, "longitude", p)
    dates = _pick(cols, "observed_on", p)
    index = {n: i for i, n in enumerate(names)}
    today = today or dt.date.today()
    skipped: Counter[str] = Counter()
    out: dict[str, list[Any]] = {"id": [], "taxon": [], "lat": [], "lon": [], "date": [],
                                 "doy": []}
    first_unknown: str | None = None
    for i, (oid, name) in enumerate(zip(ids, taxa, strict=True)):
        line = i + 2
        if oid is None or str(oid).strip() == "":
            raise InputError("empty value", path=p, line=line, field="observation_id")
        lat = _number(lats[i], p, line, "latitude")
        lon = _number(lons[i], p, line, "longitude")
        key = "" if name is None else str(name).strip()
        if key not in index:
            first_unknown = first_unknown or key
            skipped["taxon not in the prior"] += 1
            continue
        text, doy, problem = _day(dates[i], today)
        ok = bool(np.isfinite(lat) and np.isfinite(lon) and -90 <= lat <= 90
                  and -180 <= lon <= 180 and (lat, lon) != (0.0, 0.0))
        if not ok:
            skipped["no usable coordinates"] += 1
            continue
        if problem:
            skipped[problem] += 1
            continue
        for k, v in zip(out, (str(oid).strip(), index[key], lat, lon, text, doy), strict=True):
            out[k].append(v)
    if not out["id"] and first_unknown is not None and skipped["taxon not in the prior"] == sum(
            skipped.values()):
        raise InputError(f"no row names a taxon of the prior: {first_unknown!r} is not one"
                         f"{_did_you_mean(first_unknown, names)}", path=p, field="taxon")
    return Records(out["id"], np.asarray(out["taxon"], dtype=np.int64),
                   np.asarray(out["lat"], dtype=np.float64),
                   np.asarray(out["lon"], dtype=np.float64), out["date"],
                   np.asarray(out["doy"], dtype=np.float64), skipped)


def write_anomalies(records: Records, scores: Anomalies, names: list[str], path: Path) -> Path:
    """Write the scores, most anomalous first (ties in file order), atomically."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from fieldguide.inputs.files import atomic_path

    order = np.lexsort((np.arange(len(records)), -scores.anomaly_score))
    table = pa.table({
        "observation_id": [records.observation_id[i] for i in order],
        "taxon": [names[records.taxon[i]] for i in order],
        "latitude": records.latitude[order], "longitude": records.longitude[order],
        "observed_on": [records.observed_on[i] for i in order],
        "anomaly_score": np.round(scores.anomaly_score[order], 6),
        "expected_nearby": scores.expected_nearby[order],
        "geo_score": np.round(scores.geo_score[order], 6)})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pacsv.write_csv(table, tmp)
    return path


def read_anomalies(path: str | Path) -> tuple[list[str], NDArray[np.float64]]:
    """(observation ids, anomaly scores) of a scores file, checked: a missing column or a
    score outside [0, 1] is one :class:`InputError` naming the line."""
    from fieldguide.inputs.tables import read_columns

    cols = read_columns(path, what="anomaly scores")
    for name in ("observation_id", "anomaly_score"):
        if name not in cols:
            raise InputError(f"missing column {name!r} (write it with `fieldguide prior "
                             "anomalies`)", path=path, field=name)
    ids = []
    for i, v in enumerate(cols["observation_id"]):
        if v is None or str(v).strip() == "":
            raise InputError("empty value", path=path, line=i + 2, field="observation_id")
        ids.append(str(v).strip())
    scores = cols["anomaly_score"]
    for i, v in enumerate(scores):
        if not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v <= 1:
            raise InputError(f"{v!r} is not a score in [0, 1]", path=path, line=i + 2,
                             field="anomaly_score")
    return ids, np.asarray(scores, dtype=np.float64)
