"""Trait tables: one row per observation (or photo) with one column per trait, into ``traits``.

Made for annotation sessions such as Taylor et al. 2019's ImageAnt files (``file`` =
``<observation id>.jpg``, ``open_flowers`` and ``flowers`` in {1, 0, U}): the key column names
an observation id or a photo id, with any file extension stripped; each trait column becomes
rows ``(observation, photo, trait, value)``. Empty cells are "not annotated" and write nothing.
``columns`` renames source columns to the study's trait names (ImageAnt's ``flowers`` means
flower buds: ``{"open_flowers": "open_flowers", "flowers": "flower_buds"}``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb

from fieldguide.ingest import csvfile
from fieldguide.ingest.commit import already_imported, apply_checks, count_rows, write_import
from fieldguide.ingest.csvfile import Check, sql_literal
from fieldguide.ingest.report import IngestReport
from fieldguide.store import Study

KIND = "traits"
IMAGEANT_PHENOLOGY = {"open_flowers": "open_flowers", "flowers": "flower_buds"}
PRESENCE_VALUES = ("1", "0", "U")


def ingest_traits(
    study: Study,
    path: str | Path,
    *,
    key: str = "file",
    columns: Mapping[str, str] | None = None,
    values: Sequence[str] | None = PRESENCE_VALUES,
    annotator: str | None = None,
    max_rejects: int = 0,
    force: bool = False,
) -> IngestReport:
    """Load a trait table (see module doc). ``values``: the allowed codes (None: any text)."""
    path = Path(path)
    if not force and (skipped := already_imported(study, KIND, path)):
        return skipped
    header = csvfile.read_header(path)
    mapping = dict(columns) if columns is not None else {
        c: c for c in header if c not in (key, "time")}
    csvfile.require_columns(path, header, [key, *mapping])
    con = study.con
    report = IngestReport(kind=KIND, path=path)
    report.rows_read = csvfile.stage(con, path, "fg_stage", header)
    ident = f"regexp_replace(trim(\"{key}\"), '\\.[A-Za-z0-9]+$', '')"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE fg_trait_keys AS
        SELECT s.rowid AS rid, o.observation_id AS obs, p.photo_id AS photo,
               p.observation_id AS photo_obs
        FROM fg_stage s
        LEFT JOIN observations o ON o.observation_id = {ident}
        LEFT JOIN photos p ON p.photo_id = {ident} AND o.observation_id IS NULL""")
    checks = [
        Check(f"nullif({ident}, '') IS NULL", key, "'missing id'"),
        Check(
            "rowid IN (SELECT rid FROM fg_trait_keys WHERE obs IS NULL AND photo IS NULL)",
            key,
            f"'no observation or photo ' || {ident} || ' in the study'",
        ),
        Check(
            f"rowid NOT IN (SELECT min(rowid) FROM fg_stage GROUP BY {ident})",
            key,
            f"'duplicate id ' || {ident} || ' (also on an earlier line)'",
        ),
    ]
    if values is not None:
        allowed = ", ".join(sql_literal(v) for v in values)
        for source in mapping:
            checks.append(Check(
                f"nullif(trim(\"{source}\"), '') IS NOT NULL AND trim(\"{source}\") "
                f"NOT IN ({allowed})",
                source,
                f"'not one of {', '.join(values)}: ' || \"{source}\"",
            ))
    bad = apply_checks(con, path, report, checks, max_rejects)

    def write(con: duckdb.DuckDBPyConnection, import_id: int) -> None:
        who = sql_literal(annotator) if annotator else "NULL"
        for source, trait in mapping.items():
            con.execute(f"""
                INSERT INTO traits BY NAME
                SELECT coalesce(k.obs, k.photo_obs) AS observation_id, k.photo AS photo_id,
                       {sql_literal(trait)} AS trait, trim(s."{source}") AS value,
                       {who} AS annotator, {import_id} AS import_id
                FROM fg_stage s JOIN fg_trait_keys k ON k.rid = s.rowid
                WHERE nullif(trim(s."{source}"), '') IS NOT NULL
                  AND s.rowid NOT IN (SELECT rid FROM {bad})""")
        report.counts = count_rows(con, import_id, ["traits"])

    return write_import(study, report, write)
