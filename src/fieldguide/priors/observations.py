"""The observations a prior learns from (or is evaluated on), as arrays, with every skipped
row counted by reason.

A prior is only as honest as its inputs, so nothing is guessed: a record without usable
coordinates gives no place, a record without a usable date gives no season, and a record that
has neither is dropped. Coordinates out of range and the (0, 0) "null island" count as
missing; dates in the future or unparseable count as missing.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from fieldguide.errors import InputError
from fieldguide.priors.cells import valid_coordinates
from fieldguide.store import Study, load_taxonomy
from fieldguide.taxonomy import MAIN_RANKS, normalise_rank

#: quality grades a prior never learns from (unconfirmed or not wild)
EXCLUDED_GRADES = ("casual", "needs_id")


@dataclass
class Observations:
    """One row per record: ``taxon`` indexes ``names``; ``lat``/``lon``/``doy`` are NaN when
    unknown; ``observer`` codes index ``observers``; ``group`` maps each taxon to its ancestor
    at the next main rank up (an index into ``group_names``, -1 when it has none)."""

    taxon: NDArray[np.int64]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    doy: NDArray[np.float64]
    observer: NDArray[np.int64]
    names: list[str]
    group: NDArray[np.int64]
    group_names: list[str]
    rank: str
    skipped: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.taxon)

    def take(self, rows: NDArray[np.int64] | NDArray[np.bool_]) -> Observations:
        """The same taxa with a subset of rows (e.g. one side of an observer split)."""
        return Observations(self.taxon[rows], self.lat[rows], self.lon[rows], self.doy[rows],
                            self.observer[rows], self.names, self.group, self.group_names,
                            self.rank, Counter(self.skipped))


def read_study(study: Study, rank: str = "species",
               grades_excluded: tuple[str, ...] = EXCLUDED_GRADES,
               today: date | None = None) -> Observations:
    """The study's usable records rolled up to ``rank`` (records identified only coarser than
    ``rank`` are skipped). Captive/cultivated records and ``grades_excluded`` are left out."""
    wanted = normalise_rank(rank)
    if wanted is None or wanted not in MAIN_RANKS:
        raise InputError(f"rank must be one of {', '.join(MAIN_RANKS)}", field="rank")
    marks = ", ".join("?" for _ in grades_excluded) or "NULL"
    res = study.con.execute(f"""
        SELECT taxon_id, latitude, longitude, hash(coalesce(observer, '')) AS observer,
               CASE WHEN observed_on <= ?::DATE THEN dayofyear(observed_on) END AS doy,
               CASE WHEN observed_on IS NULL THEN 'no date (place only)'
                    WHEN observed_on > ?::DATE THEN 'date in the future (place only)'
               END AS date_problem
        FROM observations
        WHERE taxon_id IS NOT NULL AND NOT coalesce(captive, false)
          AND coalesce(quality_grade, '') NOT IN ({marks})""",
        [today or date.today()] * 2 + list(grades_excluded))
    cols = res.fetchnumpy()
    taxonomy, _ = load_taxonomy(study)
    raw_taxon = np.asarray(cols["taxon_id"], dtype=np.int64)
    if len(raw_taxon) == 0:
        raise InputError("the study has no identified observations to learn a prior from",
                         path=study.root)
    unique, inverse = np.unique(raw_taxon, return_inverse=True)
    at_rank = taxonomy.ancestor_at_rank(unique, wanted)
    kept_taxa, taxon_of_unique = np.unique(at_rank, return_inverse=True)
    row_taxon = taxon_of_unique[inverse]
    offset = 1 if kept_taxa[0] == -1 else 0   # -1: identified coarser than the rank
    row_taxon = row_taxon - offset
    kept_taxa = kept_taxa[offset:]
    names = [taxonomy.name(int(t)) for t in kept_taxa]
    group_rank = _rank_above(wanted)
    if group_rank is not None and len(kept_taxa):
        group_ids = taxonomy.ancestor_at_rank(kept_taxa, group_rank)
    else:
        group_ids = np.full(len(kept_taxa), -1, dtype=np.int64)
    group_codes, group = _encode(group_ids)
    group_names = [taxonomy.name(int(g)) for g in group_codes]
    doy = _floats(cols["doy"])
    problems, counts = np.unique(np.asarray(cols["date_problem"], dtype=object)
                                 .astype(str), return_counts=True)
    date_problems = Counter({str(p): int(c) for p, c in zip(problems, counts, strict=True)
                             if p != "None"})
    lat = _floats(cols["latitude"])
    lon = _floats(cols["longitude"])
    # observers as 64-bit hashes: a split needs only who is who, and sorting 10M integers
    # is quicker than sorting 10M strings
    _, observer = np.unique(np.asarray(cols["observer"], dtype=np.uint64), return_inverse=True)
    table = Observations(row_taxon, lat, lon, doy, observer.astype(np.int64), names, group,
                         group_names, wanted)
    table.skipped.update(date_problems)
    keep = row_taxon >= 0
    table.skipped["identified coarser than " + wanted] += int((~keep).sum())
    return _clean(table.take(np.flatnonzero(keep)), table.skipped)


def read_csv(path: str | Path, names: list[str], today: date | None = None
             ) -> tuple[Observations, Counter[str]]:
    """An evaluation file (columns taxon, latitude, longitude, observed_on; an optional
    observer) against a prior's taxon ``names``. Rows naming a taxon the prior does not know
    are skipped and counted, as are unusable coordinates and dates (see module doc)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    index = {n: i for i, n in enumerate(names)}
    taxon, lat, lon, day, who = [], [], [], [], []
    skipped: Counter[str] = Counter()
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in ("taxon", "latitude", "longitude", "observed_on")
                   if c not in header]
        if missing:
            raise InputError(f"missing column(s) {', '.join(missing)}", path=path, line=1,
                             field=missing[0])
        for row in reader:
            name = (row["taxon"] or "").strip()
            if name not in index:
                skipped["taxon not in the prior"] += 1
                continue
            taxon.append(index[name])
            lat.append(_float(row["latitude"]))
            lon.append(_float(row["longitude"]))
            day.append((row["observed_on"] or "").strip()[:10])
            who.append(row.get("observer") or "")
    doy, date_problems = _days(np.asarray(day, dtype=object), today or date.today())
    skipped.update(date_problems)
    _, observer = np.unique(np.asarray(who, dtype=str), return_inverse=True)
    table = Observations(np.asarray(taxon, dtype=np.int64), np.asarray(lat, dtype=np.float64),
                         np.asarray(lon, dtype=np.float64), doy, observer.astype(np.int64),
                         list(names), np.full(len(names), -1, dtype=np.int64), [], "")
    return _clean(table, skipped), skipped


def split_by_observer(table: Observations, test_share: float = 0.3,
                      seed: int = 0) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Rows of train and test: every observer's records fall on one side (never random rows,
    which would let one person's repeated visits leak between the sides)."""
    n_observers = int(table.observer.max()) + 1 if len(table) else 0
    held = np.random.default_rng(seed).random(n_observers) < test_share
    test = held[table.observer]
    return np.flatnonzero(~test), np.flatnonzero(test)


def _clean(table: Observations, skipped: Counter[str]) -> Observations:
    """Blank unusable coordinates; drop rows with neither a place nor a season."""
    has_xy = ~(np.isnan(table.lat) | np.isnan(table.lon))
    bad = has_xy & ~valid_coordinates(table.lat, table.lon)
    skipped["coordinates out of range or (0, 0)"] += int(bad.sum())
    table.lat[~(has_xy & ~bad)] = np.nan
    table.lon[~(has_xy & ~bad)] = np.nan
    located = ~np.isnan(table.lat)
    skipped["no coordinates (season only)"] += int((~located & ~np.isnan(table.doy)).sum())
    useless = ~located & np.isnan(table.doy)
    skipped["neither coordinates nor date (dropped)"] += int(useless.sum())
    out = table.take(np.flatnonzero(~useless))
    out.skipped = skipped
    return out


def _days(values: NDArray[np.object_], today: date) -> tuple[NDArray[np.float64], Counter[str]]:
    """Day of year of each date (datetime.date or ISO text); NaN and a count when missing,
    unparseable or after ``today``."""
    out = np.full(len(values), np.nan)
    problems: Counter[str] = Counter()
    for i, v in enumerate(values.tolist()):
        if v is None or v == "" or (isinstance(v, float) and v != v):
            problems["no date (place only)"] += 1
            continue
        try:
            d = v if isinstance(v, date) else date.fromisoformat(str(v))
        except ValueError:
            problems["unparseable date (place only)"] += 1
            continue
        if d > today:
            problems["date in the future (place only)"] += 1
            continue
        out[i] = d.timetuple().tm_yday
    return out, problems


def _floats(values: object) -> NDArray[np.float64]:
    arr = np.ma.filled(np.ma.asarray(values, dtype=np.float64), np.nan)
    return np.asarray(arr, dtype=np.float64)


def _float(text: str | None) -> float:
    try:
        value = float((text or "").strip())
    except ValueError:
        return float("nan")
    return value if np.isfinite(value) else float("nan")


def _encode(ids: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Distinct non-negative ids and each row's index into them (-1 for a negative id)."""
    codes = np.unique(ids[ids >= 0])
    index = np.searchsorted(codes, ids)
    return codes, np.where(ids >= 0, index, -1).astype(np.int64)


def _rank_above(rank: str) -> str | None:
    i = MAIN_RANKS.index(rank)
    return MAIN_RANKS[i - 1] if i > 0 else None
