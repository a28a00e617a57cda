"""Trait tables: one row per observation (or photo) with one column per trait, into ``traits``.

Made for annotation sessions such as Taylor et al. 2019's ImageAnt files (``file`` =
``<observation id>.jpg``, ``open_flowers`` and ``flowers`` in {1, 0, U}) and for any table
keyed by observation id, an iNaturalist export included (``--key id``): the key column names
an observation id or a photo id, with any file extension stripped; each trait column becomes
rows ``(observation, photo, trait, value)``. Empty cells, and the other spellings of a missing
value (``NA``...: ``ingest.rowchecks.MISSING_VALUES``), are "not annotated" and write nothing.

``columns`` renames source columns to the study's trait names (ImageAnt's ``flowers`` means
flower buds: ``{"open_flowers": "open_flowers", "flowers": "flower_buds"}``). ``value_maps``
recodes a source column's values (``{"open_flowers": {"1": "flowering", "0":
"not_flowering"}}``): a value with no entry refuses its row, naming line and field. A column
without a map is checked against ``values`` (the allowed codes; None: kept as given).

Column names are file text: they reach SQL only as quoted identifiers (``quote_ident``), and
values only as bound parameters or registered tables, so any header is safe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

import fieldguide.ingest.csvfile as csvfile
from fieldguide.errors import InputError
from fieldguide.ingest.commit import already_imported, apply_checks, count_rows, write_import
from fieldguide.ingest.csvfile import Check, sql_literal
from fieldguide.ingest.format import FORCE, MAX_REJECTS, IngestFormat, Param
from fieldguide.ingest.report import IngestReport
from fieldguide.ingest.rowchecks import value_sql
from fieldguide.store import Study

KIND = "traits"
IMAGEANT_PHENOLOGY = {"open_flowers": "open_flowers", "flowers": "flower_buds"}
PRESENCE_VALUES = ("1", "0", "U")
# iNaturalist's controlled annotation terms, as export columns may name them -> trait names.
INAT_ANNOTATIONS = {
    "plant phenology": "plant_phenology",
    "flowers and fruits": "flowers_and_fruits",
    "life stage": "life_stage",
    "sex": "sex",
    "alive or dead": "alive_or_dead",
    "leaves": "leaves",
    "evidence of presence": "evidence_of_presence",
}


def quote_ident(name: str) -> str:
    """A SQL identifier for any column name (a double quote inside is doubled)."""
    return '"' + name.replace('"', '""') + '"'


def trait_name(text: str) -> str:
    """A trait name from a column title: lower case, runs of non-letters as one '_'."""
    out = "".join(c if c.isalnum() else " " for c in text.strip().lower())
    return "_".join(out.split())


def inat_annotation_columns(header: Sequence[str]) -> dict[str, str]:
    """The export's own trait columns -> trait names: observation fields (``field:Flowering``
    -> ``flowering``) and annotation columns ('Plant Phenology', 'Flowers and Fruits', 'Life
    Stage'..., bare or as ``annotation:<term>``)."""
    out = {}
    for column in header:
        low = " ".join(column.strip().lower().split())
        if low.startswith("field:") and trait_name(low[6:]):
            out[column] = trait_name(low[6:])
            continue
        term = low.removeprefix("annotation:").removeprefix("annotation_").strip()
        if term in INAT_ANNOTATIONS or term.replace("_", " ") in INAT_ANNOTATIONS:
            out[column] = INAT_ANNOTATIONS[term.replace("_", " ")]
    return out


def ingest_traits(
    study: Study,
    path: str | Path,
    *,
    key: str = "file",
    columns: Mapping[str, str] | None = None,
    values: Sequence[str] | None = PRESENCE_VALUES,
    value_maps: Mapping[str, Mapping[str, str]] | None = None,
    annotator: str | None = None,
    max_rejects: int = 0,
    force: bool = False,
) -> IngestReport:
    """Load a trait table (see module doc). ``columns``: source column -> trait (default:
    every column but the key and ``time``); ``value_maps``: source column -> {value: code}."""
    path = Path(path)
    if not force and (skipped := already_imported(study, KIND, path)):
        return skipped
    header = csvfile.read_header(path)
    mapping = dict(columns) if columns is not None else {
        c: c for c in header if c not in (key, "time")}
    maps = {c: dict(m) for c, m in (value_maps or {}).items()}
    csvfile.require_columns(path, header, [key, *mapping, *maps])
    stray = [c for c in maps if c not in mapping]
    if stray:
        raise InputError(f"a value map names column {stray[0]!r}, which is not a trait column",
                         path=path, field=stray[0])
    con = study.con
    report = IngestReport(kind=KIND, path=path)
    report.rows_read = csvfile.stage(con, path, "fg_stage", header)
    _code_table(con, mapping, maps, values)
    ident = f"regexp_replace({value_sql('s.' + quote_ident(key))}, '\\.[A-Za-z0-9]+$', '')"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE fg_trait_keys AS
        SELECT s.rowid AS rid, {ident} AS ident, o.observation_id AS obs, p.photo_id AS photo,
               p.observation_id AS photo_obs
        FROM fg_stage s
        LEFT JOIN observations o ON o.observation_id = {ident}
        LEFT JOIN photos p ON p.photo_id = {ident} AND o.observation_id IS NULL""")
    row_ident = "(SELECT ident FROM fg_trait_keys WHERE rid = fg_stage.rowid)"
    checks = [
        Check(f"nullif({row_ident}, '') IS NULL", key, "'missing id'"),
        Check(
            "rowid IN (SELECT rid FROM fg_trait_keys WHERE ident IS NOT NULL AND obs IS NULL "
            "AND photo IS NULL)",
            key,
            f"'no observation or photo ' || {row_ident} || ' in the study'",
        ),
        Check(
            "rowid NOT IN (SELECT min(rid) FROM fg_trait_keys GROUP BY ident) AND rowid IN "
            "(SELECT rid FROM fg_trait_keys WHERE ident IS NOT NULL)",
            key,
            f"'duplicate id ' || {row_ident} || ' (also on an earlier line)'",
        ),
    ]
    for index, source in enumerate(mapping):
        if source not in maps and values is None:
            continue
        cell = f"trim({quote_ident(source)})"
        value = value_sql(quote_ident(source))
        if source in maps:
            known = ", ".join(maps[source])
            reason = (f"{sql_literal('no mapping for value ')} || {cell} || "
                      f"{sql_literal(f' (mapped values: {known})')}")
        else:
            codes = ", ".join(values or ())
            reason = f"{sql_literal(f'not one of {codes}: ')} || {cell}"
        checks.append(Check(
            f"{value} IS NOT NULL AND {cell} NOT IN "
            f"(SELECT raw FROM fg_trait_codes WHERE col = {index})",
            source,
            reason,
        ))
    bad = apply_checks(con, path, report, checks, max_rejects)

    def write(con: duckdb.DuckDBPyConnection, import_id: int) -> None:
        for index, (source, trait) in enumerate(mapping.items()):
            cell = value_sql(f"s.{quote_ident(source)}")
            value = f"coalesce(c.code, {cell})"
            con.execute(f"""
                INSERT INTO traits BY NAME
                SELECT coalesce(k.obs, k.photo_obs) AS observation_id, k.photo AS photo_id,
                       ? AS trait, {value} AS value, ? AS annotator, ? AS import_id
                FROM fg_stage s JOIN fg_trait_keys k ON k.rid = s.rowid
                LEFT JOIN fg_trait_codes c ON c.col = ? AND c.raw = {cell}
                WHERE {cell} IS NOT NULL
                  AND s.rowid NOT IN (SELECT rid FROM {bad})""",
                [trait, annotator, import_id, index])
        report.counts = count_rows(con, import_id, ["traits"])

    return write_import(study, report, write)


def _code_table(
    con: duckdb.DuckDBPyConnection,
    mapping: Mapping[str, str],
    maps: Mapping[str, Mapping[str, str]],
    values: Sequence[str] | None,
) -> None:
    """Temp table ``fg_trait_codes(col, raw, code)``: per trait column (by position in
    ``mapping``), the accepted values and what each is written as (NULL: as given)."""
    cols: list[int] = []
    raws: list[str] = []
    codes: list[str | None] = []
    for index, source in enumerate(mapping):
        pairs: Mapping[str, str | None] = (
            maps[source] if source in maps else dict.fromkeys(values or ()))
        for raw, code in pairs.items():
            cols.append(index)
            raws.append(raw)
            codes.append(code)
    table = pa.table({"col": pa.array(cols, pa.int32()), "raw": pa.array(raws, pa.string()),
                      "code": pa.array(codes, pa.string())})
    con.register("fg_trait_codes_view", table)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE fg_trait_codes AS "
                    "SELECT * FROM fg_trait_codes_view")
    finally:
        con.unregister("fg_trait_codes_view")


def ingest_trait_options(
    study: Study,
    table: str | Path,
    *,
    key: str = "file",
    trait: Sequence[str] | None = None,
    value_map: Sequence[str] | None = None,
    annotator: str | None = None,
    max_rejects: int = 0,
    force: bool = False,
) -> IngestReport:
    """:func:`ingest_traits` with its columns and maps written as the command line writes
    them (``TRAIT=COLUMN``, ``COLUMN:VALUE=CODE``); without ``trait``, every column but the
    key is a trait of codes 1, 0, U."""
    columns = trait_columns(trait or [])
    maps = value_maps(value_map or [], columns)
    return ingest_traits(study, table, key=key, columns=columns,
                         values=None if columns is not None else PRESENCE_VALUES,
                         value_maps=maps, annotator=annotator, max_rejects=max_rejects,
                         force=force)


def trait_columns(specs: Sequence[str]) -> dict[str, str] | None:
    """``TRAIT=COLUMN`` texts -> {column: trait} (None when none given)."""
    if not specs:
        return None
    out: dict[str, str] = {}
    for spec in specs:
        name, eq, column = spec.partition("=")
        if not eq or not name.strip() or not column.strip():
            raise InputError(f"{spec!r}: write TRAIT=COLUMN", field="--trait")
        if column.strip() in out:
            raise InputError(f"column {column.strip()!r} named twice", field="--trait")
        out[column.strip()] = name.strip()
    return out


def value_maps(specs: Sequence[str], columns: Mapping[str, str] | None
               ) -> dict[str, dict[str, str]]:
    """``COLUMN:VALUE=CODE`` texts -> {column: {value: code}}. The column is split off at
    the last ':' before the first '=' (so ``field:Flowering:yes=1`` works); a name that is a
    trait of ``columns``, not a column, means that trait's column."""
    by_trait = {t: c for c, t in (columns or {}).items()}
    out: dict[str, dict[str, str]] = {}
    for spec in specs:
        left, eq, code = spec.partition("=")
        column, colon, raw = left.rpartition(":")
        if not eq or not colon or not column.strip() or not raw.strip():
            raise InputError(f"{spec!r}: write COLUMN:VALUE=CODE", field="--map")
        column = column.strip()
        if columns is not None and column not in columns:
            if column not in by_trait:
                raise InputError(f"{spec!r}: {column!r} is neither a --trait column nor a "
                                 "trait", field="--map")
            column = by_trait[column]
        out.setdefault(column, {})[raw.strip()] = code.strip()
    return out


FORMAT = IngestFormat(ingest_trait_options, "table", (
    Param("key", "Column naming the observation or photo (an id, or '<id>.jpg').",
          default="file"),
    Param("trait", "TRAIT=COLUMN: read COLUMN as trait TRAIT (repeatable). Given: only these "
          "columns are read and their values kept as written unless mapped. Not given: every "
          "column but the key is a trait of codes 1, 0, U.", kind="texts"),
    Param("value_map", "COLUMN:VALUE=CODE: write VALUE of COLUMN (or of the trait so named) as "
          "CODE (repeatable); a column with a map refuses values it does not list.",
          kind="texts", flags=("--map",)),
    Param("annotator", "Who annotated."),
    MAX_REJECTS, FORCE))
