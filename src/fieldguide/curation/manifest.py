"""The dataset's files: the manifest (one row per photo) and the class list with taxonomy.

Rank columns (kingdom .. species) come from each class's lineage; ``needs_review`` and
``review_reason`` appear when a rule flagged photos (``label_noise``, ``anomalies``), and
``suggested_taxon`` when ``label_noise`` did (:func:`read_flagged` reads them back for the
review page); trait columns from the
``traits`` table (photo-level values over observation-level ones) or, for ``life_stage``, from
the observation. ``phenology2`` / ``phenology4`` are derived by ``rules.phenology2/4`` from the
traits ``open_flowers``, ``flower_buds`` and ``fruits``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from fieldguide.curation.rules import DERIVED_TRAITS, PHENOLOGY_TRAITS, phenology2, phenology4
from fieldguide.curation.statistics import ICONIC_TAXA
from fieldguide.curation.steps import DS
from fieldguide.errors import InputError
from fieldguide.taxonomy.ranks import MAIN_RANKS as RANKS

DERIVED = set(DERIVED_TRAITS)
OBSERVATION_COLUMNS = {"life_stage"}


def _lineage(con: duckdb.DuckDBPyConnection, superclass_rank: str | None) -> None:
    """Temp table ``fg_classes``: one row per class with its rank names and super-class."""
    if superclass_rank is None:
        iconic = ", ".join(f"'{t}'" for t in ICONIC_TAXA)
        pick = f"a.name IN ({iconic}) OR a.rank = 'kingdom'"
    else:
        pick = "a.rank = $superclass_rank"
    ranks = ", ".join(f"max(a.name) FILTER (a.rank = '{r}') AS \"{r}\"" for r in RANKS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE fg_classes AS
        WITH RECURSIVE up(taxon_id, anc, depth) AS (
            SELECT DISTINCT taxon_id, taxon_id, 0 FROM {DS}
            UNION ALL
            SELECT up.taxon_id, t.parent_id, up.depth + 1 FROM up JOIN taxa t
              ON t.taxon_id = up.anc WHERE t.parent_id IS NOT NULL AND up.depth < 64),
        lineage AS (
            SELECT up.taxon_id, {ranks},
                   coalesce(arg_min(a.name, up.depth) FILTER ({pick}), '(none)') AS superclass
            FROM up JOIN taxa a ON a.taxon_id = up.anc GROUP BY up.taxon_id)
        SELECT (row_number() OVER (ORDER BY t.name, t.taxon_id) - 1)::INTEGER AS class_index,
               t.taxon_id, t.name, t.rank, l.* EXCLUDE (taxon_id)
        FROM lineage l JOIN taxa t USING (taxon_id)""",
        None if superclass_rank is None else {"superclass_rank": superclass_rank})


def _trait_columns(con: duckdb.DuckDBPyConnection, traits: tuple[str, ...]) -> list[str]:
    """Create ``fg_trait_values(photo_id, <trait>...)``; return the manifest's select items."""
    raw = sorted({t for t in traits if t not in DERIVED | OBSERVATION_COLUMNS}
                 | (set(PHENOLOGY_TRAITS) if DERIVED & set(traits) else set()))
    items = []
    if raw:
        # Trait names are the user's text: literals escaped, identifiers quoted.
        pivot = ", ".join(f"max(value) FILTER (trait = {_lit(t)}) AS {_id(t)}" for t in raw)
        merged = ", ".join(f"coalesce(p.{_id(t)}, o.{_id(t)}) AS {_id(t)}" for t in raw)
        names = ", ".join(_lit(t) for t in raw)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE fg_trait_values AS
            WITH o AS (SELECT observation_id, {pivot} FROM traits
                       WHERE photo_id IS NULL AND trait IN ({names}) GROUP BY observation_id),
                 p AS (SELECT photo_id, {pivot} FROM traits
                       WHERE photo_id IS NOT NULL AND trait IN ({names}) GROUP BY photo_id)
            SELECT d.photo_id, {merged} FROM {DS} d
            LEFT JOIN o USING (observation_id) LEFT JOIN p USING (photo_id)""")
    if DERIVED & set(traits):
        domain = [None, "0", "1", "U"]
        combos = list(itertools.product(domain, repeat=3))
        con.register("fg_pheno_rules", pa.table({
            "open": [c[0] for c in combos], "buds": [c[1] for c in combos],
            "fruits": [c[2] for c in combos],
            "phenology2": [phenology2(c[0]) for c in combos],
            "phenology4": [phenology4(*c) for c in combos]}))
        con.execute("""
            CREATE OR REPLACE TEMP TABLE fg_pheno AS
            SELECT v.photo_id, r.phenology2, r.phenology4 FROM fg_trait_values v
            LEFT JOIN fg_pheno_rules r ON r.open IS NOT DISTINCT FROM v.open_flowers
              AND r.buds IS NOT DISTINCT FROM v.flower_buds
              AND r.fruits IS NOT DISTINCT FROM v.fruits""")
        con.unregister("fg_pheno_rules")
    for t in traits:
        if t in DERIVED:
            items.append(f"ph.{_id(t)}")
        elif t in OBSERVATION_COLUMNS:
            items.append(f"o.{_id(t)}")
        else:
            items.append(f"tv.{_id(t)}")
    return items


def _id(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_manifest(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    traits: tuple[str, ...],
    formats: tuple[str, ...],
    superclass_rank: str | None,
) -> dict[str, Path]:
    """Write manifest.{parquet,csv} and classes.csv from ``fg_ds`` and ``fg_split``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _lineage(con, superclass_rank)
    trait_items = _trait_columns(con, traits)
    joins = ""
    if any(i.startswith("tv.") for i in trait_items) or any(
        i.startswith("ph.") for i in trait_items
    ):
        joins += " LEFT JOIN fg_trait_values tv USING (photo_id)"
    if any(i.startswith("ph.") for i in trait_items):
        joins += " LEFT JOIN fg_pheno ph USING (photo_id)"
    extra = "".join(f", {i}" for i in trait_items)
    columns = {r[0] for r in con.execute(f"DESCRIBE {DS}").fetchall()}
    if "needs_review" in columns:  # a rule flagged photos for the review page
        extra += ", coalesce(d.needs_review, false) AS needs_review, d.review_reason"
        if "suggested_taxon" in columns:  # label_noise's most probable other class
            extra += ", d.suggested_taxon"
    rank_cols = ", ".join(f'c."{r}"' for r in RANKS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE fg_manifest AS
        SELECT d.photo_id, p.path, p.url, d.observation_id, d.observer, d.taxon_id,
               c.class_index, c.name AS taxon, {rank_cols}{extra}, s.split,
               o.observed_on, d.latitude, d.longitude
        FROM {DS} d JOIN fg_split s USING (photo_id) JOIN fg_classes c USING (taxon_id)
        JOIN photos p ON p.photo_id = d.photo_id
        JOIN observations o ON o.observation_id = d.observation_id
        {joins}
        ORDER BY c.class_index, d.observation_id, d.photo_id""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE fg_class_list AS
        SELECT c.*, count(m.photo_id) AS photos,
               count(*) FILTER (m.split = 'train') AS train,
               count(*) FILTER (m.split = 'val') AS val,
               count(*) FILTER (m.split = 'test') AS test,
               count(DISTINCT m.observation_id) AS observations,
               count(DISTINCT m.observer) AS observers
        FROM fg_classes c JOIN fg_manifest m USING (taxon_id)
        GROUP BY ALL ORDER BY c.class_index""")
    written = {}
    for fmt in formats:
        target = out_dir / f"manifest.{fmt}"
        _write(con, "fg_manifest", target, fmt)
        written[f"manifest.{fmt}"] = target
    classes = out_dir / "classes.csv"
    _write(con, "fg_class_list", classes, "csv")
    written["classes.csv"] = classes
    return written


def _write(con: duckdb.DuckDBPyConnection, table: str, target: Path, fmt: str) -> None:
    """Write a temp table with DuckDB's relation API: the path is an argument, never SQL."""
    rel = con.table(table)
    if fmt == "parquet":
        rel.write_parquet(str(target))
    elif fmt == "csv":
        rel.write_csv(str(target), header=True)
    else:
        raise ValueError(f"unknown manifest format {fmt!r}")


@dataclass(frozen=True)
class FlaggedPhoto:
    """A manifest row a rule flagged for review: the photo (``path`` None when it is known
    only by URL), its observation, its current label, why it was flagged and the taxon
    ``label_noise`` suggests instead (None where no rule suggested one)."""

    photo_id: str
    path: Path | None
    observation_id: str
    taxon: str
    reason: str
    suggested: str | None


def read_flagged(path: str | Path) -> list[FlaggedPhoto]:
    """The rows of a manifest (``manifest.parquet`` or ``.csv``) with ``needs_review`` true,
    in the manifest's order; relative photo paths are read from the manifest's folder, as
    training reads them. A manifest no rule flagged (no ``needs_review`` column), a missing
    column, a ``needs_review`` that is not true or false, or a flagged row without its photo,
    observation or label is one InputError naming the file, line and field."""
    from fieldguide.inputs.tables import read_columns

    path = Path(path)
    cols = read_columns(path, what="manifest")
    if "needs_review" not in cols:
        raise InputError("no photo is flagged for review (no needs_review column: add a "
                         "label_noise or anomalies step to the dataset spec)", path=path,
                         field="needs_review")
    for name in ("photo_id", "path", "observation_id", "taxon"):
        if name not in cols:
            raise InputError(f"missing column {name!r}", path=path, field=name)
    reasons = cols.get("review_reason") or [None] * len(cols["photo_id"])
    suggested = cols.get("suggested_taxon") or [None] * len(cols["photo_id"])
    found = []
    for i, value in enumerate(cols["needs_review"]):
        # a CSV column with one bad value is read as text: its good values are words
        flag = {"true": True, "false": False}.get(str(value).lower()) if isinstance(
            value, str) else value
        if not isinstance(flag, bool):
            raise InputError(f"{value!r} is not true or false", path=path, line=i + 2,
                             field="needs_review")
        if not flag:
            continue
        text = {n: _text(cols[n][i]) for n in ("photo_id", "observation_id", "taxon")}
        for name, value in text.items():
            if value is None:
                raise InputError("empty value in a flagged row", path=path, line=i + 2,
                                 field=name)
        where = _text(cols["path"][i])
        photo = None if where is None else Path(where)
        if photo is not None and not photo.is_absolute():
            photo = path.parent / photo
        found.append(FlaggedPhoto(str(text["photo_id"]), photo, str(text["observation_id"]),
                                  str(text["taxon"]), _text(reasons[i]) or "flagged",
                                  _text(suggested[i])))
    return found


def _text(value: Any) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value)
