"""GBIF's Multimedia extension (multimedia.txt): the photos and sound recordings of the
occurrences just written (``type`` StillImage -> ``photos``; Sound, or an ``audio/...``
``format``, -> ``sounds``, see ``fieldguide.sound``).

Shared by the Darwin Core Archive ingester and the GBIF occurrence-CSV ingester: both stage the
file as ``fg_media`` with the core id column renamed ``fg_coreid``, then call
:func:`write_media` inside their transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

import fieldguide.ingest.csvfile as csvfile
from fieldguide.ingest.csvfile import Dialect
from fieldguide.ingest.rowchecks import value_sql
from fieldguide.store.sql import first_row, quote_ident


def stage_media(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    columns: Sequence[str],
    dialect: Dialect,
    core_id: str,
) -> None:
    """Stage multimedia rows as ``fg_media`` with the occurrence id column as ``fg_coreid``."""
    csvfile.stage(con, path, "fg_media", columns, dialect, strict=True)
    con.execute(f"ALTER TABLE fg_media RENAME COLUMN {quote_ident(core_id)} TO fg_coreid")


def write_media(con: duckdb.DuckDBPyConnection, import_id: int) -> dict[str, int]:
    """Photos (StillImage rows) and recordings (Sound rows) of the occurrences just written;
    other media are counted only."""
    cols = {r[0] for r in con.execute("DESCRIBE fg_media").fetchall()}

    def col(name: str) -> str:  # the cell's value, NULL when missing or the column absent
        return value_sql(csvfile.col(name, cols))

    photo_id = (
        f"coalesce(nullif(regexp_extract({col('references')}, '/photos/([0-9]+)', 1), "
        f"''), {col('identifier')})"
    )
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE fg_media_rows AS
        SELECT trim(fg_coreid) AS observation_id, {photo_id} AS photo_id,
               row_number() OVER (PARTITION BY trim(fg_coreid) ORDER BY rowid) AS position,
               {col("identifier")} AS url,
               {col("license")} AS license,
               {col("creator")} AS creator,
               CASE WHEN lower({col("type")}) = 'sound'
                      OR lower({col("format")}) LIKE 'audio/%' THEN 'Sound'
                    ELSE coalesce({col("type")}, 'StillImage') END AS type,
               {col("format")} AS format,
               coalesce(nullif(regexp_extract({col('references')}, '/sounds/([0-9]+)', 1), ''),
                        {col("identifier")}) AS sound_id
        FROM fg_media
    """)
    con.execute(f"""
        INSERT INTO sounds BY NAME
        SELECT m.sound_id, m.observation_id, m.position, m.url, m.format, m.license,
               m.creator, {import_id:d} AS import_id
        FROM fg_media_rows m JOIN observations o USING (observation_id)
        WHERE o.import_id = {import_id:d} AND type = 'Sound' AND sound_id IS NOT NULL
          AND sound_id NOT IN (SELECT sound_id FROM sounds)
        QUALIFY row_number() OVER (PARTITION BY sound_id ORDER BY position) = 1
    """)
    con.execute(f"""
        INSERT INTO photos BY NAME
        SELECT m.photo_id, m.observation_id, m.position, m.url, m.license, m.creator,
               {import_id:d} AS import_id
        FROM fg_media_rows m JOIN observations o USING (observation_id)
        WHERE o.import_id = {import_id:d} AND type = 'StillImage' AND photo_id IS NOT NULL
          AND photo_id NOT IN (SELECT photo_id FROM photos)
        QUALIFY row_number() OVER (PARTITION BY photo_id ORDER BY position) = 1
    """)
    row = first_row(
        con.execute(f"""
        SELECT count(*) FILTER (WHERE o.observation_id IS NULL),
               count(*) FILTER (WHERE type NOT IN ('StillImage', 'Sound')),
               count(*) FILTER (WHERE type = 'Sound' AND o.observation_id IS NOT NULL)
        FROM fg_media_rows m LEFT JOIN observations o
          ON o.observation_id = m.observation_id AND o.import_id = {import_id:d}
    """)
    )
    assert row is not None
    return {
        "media rows without a kept occurrence": int(row[0]),
        "media rows neither images nor sounds": int(row[1]),
        "sounds": int(row[2]),
    }
