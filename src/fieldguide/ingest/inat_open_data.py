"""iNaturalist's open-data metadata: the ``observations``, ``photos``, ``taxa`` and
``observers`` tables published beside the licensed-photo bucket (tab-separated, with a header,
gzipped or not; files named ``observations.csv[.gz]`` and so on, as AWS serves them).

At their real scale (hundreds of millions of photos) nothing passes through Python: DuckDB's
CSV reader streams each file through SQL into the study's tables. Memory stays nearly flat
in the number of rows (0.64 GB at 5M photos, 0.67 GB at 25M; docs/benchmarks.md): the
observations (only the columns the import uses, typed) and the photos are first split by a
hash of the observation's uuid into chunks of about :data:`OBSERVATIONS_PER_CHUNK`
observations (Parquet files in the study's ``.tmp`` folder, removed afterwards and cleared by
a re-run), then each chunk's photos are joined to that chunk's observations, so no hash table
of observations grows with the tables. Everything is written in one
transaction, so a refused import leaves the study as it was. The import runs under
:data:`MEMORY_LIMIT`, without keeping insertion order (so inserts stream instead of
buffering), and joins in a fixed order (:data:`FIXED_JOIN_ORDER`) so that the photos, the
largest table, stream past hash tables of observations instead of being hashed themselves.
Photo URLs follow the bucket's pattern
``{base}/photos/{photo_id}/medium.{extension}`` (``photos fetch --size`` picks another size);
the rights holder is the observer's name (else login), and the attribution reads as
iNaturalist writes it: ``(c) NAME, some rights reserved (CC-BY)``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from fieldguide.errors import InputError
from fieldguide.ingest.commit import already_imported, check_rejects, count_rows, write_import
from fieldguide.ingest.format import FORCE, MAX_REJECTS, IngestFormat, Param
from fieldguide.ingest.report import IngestReport, Rejection
from fieldguide.ingest.rowchecks import value_sql
from fieldguide.photos.urls import OPEN_DATA_BASE_URL
from fieldguide.store import Study
from fieldguide.store.sql import scalar

KIND = "inat-open-data"
SOURCE = "inaturalist"
TABLES = {
    "observations": ("observation_uuid", "observer_id", "latitude", "longitude",
                     "positional_accuracy", "taxon_id", "quality_grade", "observed_on"),
    "photos": ("photo_uuid", "photo_id", "observation_uuid", "observer_id", "extension",
               "license", "width", "height", "position"),
    "taxa": ("taxon_id", "ancestry", "rank_level", "rank", "name", "active"),
    "observers": ("observer_id", "login", "name"),
}
REQUIRED = ("observations", "photos")
#: DuckDB's memory budget during an import (its default is 80% of the machine's memory, which
#: it then fills at 10M observations). One chunk's hash table (:data:`OBSERVATIONS_PER_CHUNK`)
#: and the rows being written fit in it whatever the size of the tables; beyond it DuckDB
#: drops cached blocks of what it already wrote, or spills to the study's temporary folder.
#: The rest of the process needs a couple of hundred MB beside.
MEMORY_LIMIT = "512MB"
#: The join order exactly as written, with each join's hash table built on its right-hand
#: side. DuckDB cannot know how many rows a CSV file holds (it guesses a few dozen), so it
#: would hash the photos table (every photo's columns, the largest thing in the import) and
#: stream the observations past it; written out, every hash table is keyed by the
#: observations, observers or taxa, and the photos stream through.
FIXED_JOIN_ORDER = "join_order,build_side_probe_side"
#: Observations per chunk. The photos are joined to their observations one chunk at a time,
#: so every hash table holds at most about this many observations however large the tables:
#: one statement over all of them outgrew DuckDB's memory limit at 10M observations and ran
#: as an external join, and the memory outside the limit grew with the rows.
OBSERVATIONS_PER_CHUNK = 1_000_000
#: About how many bytes one observation takes in the file, gzipped (True) or not (False), to
#: choose the number of chunks before reading it (a row count would cost a pass over it).
BYTES_PER_OBSERVATION = {True: 25, False: 100}
#: Rows each thread holds before writing them out to the chunk files, however many chunks
#: there are (DuckDB's default is 524,288).
SPLIT_ROWS_PER_THREAD = 65_536
#: Each chunk file being written gathers a row group before writing it: this many rows are
#: shared among the chunks' files (each at least :data:`MIN_ROW_GROUP`, at most DuckDB's
#: default :data:`ROW_GROUP`), so that many chunks do not each hold a full row group.
SPLIT_ROWS = 1_000_000
MIN_ROW_GROUP = 2_048
ROW_GROUP = 122_880
#: The connection settings an import changes, each restored afterwards.
SETTINGS = ("memory_limit", "preserve_insertion_order", "disabled_optimizers",
            "partitioned_write_flush_threshold", "write_buffer_row_group_count")
SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")


def find_tables(folder: Path) -> dict[str, Path]:
    """The table files present in ``folder`` (observations and photos are required)."""
    if not folder.is_dir():
        raise InputError("not a folder of iNaturalist open-data tables", path=folder)
    found = {}
    for name in TABLES:
        for suffix in SUFFIXES:
            if (folder / f"{name}{suffix}").is_file():
                found[name] = folder / f"{name}{suffix}"
                break
    missing = [n for n in REQUIRED if n not in found]
    if missing:
        raise InputError(f"no {missing[0]} table ({missing[0]}.csv or .csv.gz)", path=folder)
    return found


def _reader(path: Path, name: str) -> str:
    """A read_csv call over one table: every column as text, tab-separated, no quoting."""
    header = _header(path)
    missing = [c for c in TABLES[name] if c not in header]
    if missing:
        raise InputError(f"missing column {missing[0]!r} in the {name} table; the header has: "
                         f"{', '.join(header)}", path=path, line=1, field=missing[0])
    literal = str(path).replace("'", "''")
    return (f"read_csv('{literal}', delim='\\t', quote='', escape='', header=true, "
            "all_varchar=true, auto_detect=false, store_rejects=true, "
            f"rejects_table='fg_od_rejects_{name}', rejects_scan='fg_od_scan_{name}', "
            "columns={" + ", ".join(f"'{c}': 'VARCHAR'" for c in header) + "})")


def _header(path: Path) -> list[str]:
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            line = f.readline()
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise InputError(f"unreadable table: {exc}", path=path, line=1) from None
    if not line.strip():
        raise InputError("empty table (no header)", path=path, line=1)
    return [c.strip() for c in line.lstrip("\ufeff").rstrip("\r\n").split("\t")]


def ingest_inat_open_data(study: Study, folder: str | Path, *,
                          base_url: str = OPEN_DATA_BASE_URL, max_rejects: int = 0,
                          force: bool = False) -> IngestReport:
    """Load the open-data tables in ``folder`` into the study (see the module doc). A row
    that does not parse (e.g. more fields than the header) is refused with its line; more
    than ``max_rejects`` of them refuse the whole import."""
    folder = Path(folder)
    files = find_tables(folder)
    if not force and (skipped := already_imported(study, KIND, folder)):
        return skipped
    con = study.con
    settings = {name: scalar(con, f"SELECT current_setting('{name}')")
                for name in SETTINGS}
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET disabled_optimizers = '{FIXED_JOIN_ORDER}'")
    con.execute(f"SET partitioned_write_flush_threshold = {SPLIT_ROWS_PER_THREAD}")
    # Each full row group of an insert goes to the study's file at once: a chunk's insert is
    # a few row groups a thread, fewer than DuckDB's default buffer of 5, which would keep
    # them all as transaction-local rows in memory (spilled) until the checkpoint.
    con.execute("SET write_buffer_row_group_count = 1")
    try:
        report = _ingest(study, folder, files, base_url, max_rejects)
        # Checkpoint now, under the limit: left to closing the study, it ran under DuckDB's
        # default limit and took 1.4 GB at 2M observations / 5M photos in 9 chunks.
        con.execute("CHECKPOINT")
        return report
    finally:
        for name, value in settings.items():
            # DuckDB shows the limit rounded (e.g. '18.8 GiB'): its default is restored
            # exactly by RESET, a value set by someone else to within that rounding.
            con.execute(f"RESET {name}")
            if scalar(con, f"SELECT current_setting('{name}')") != value:
                con.execute(f"SET {name} = '{value}'")


def _ingest(study: Study, folder: Path, files: dict[str, Path], base_url: str,
            max_rejects: int) -> IngestReport:
    con = study.con
    report = IngestReport(kind=KIND, path=folder)
    src = {name: _reader(path, name) for name, path in files.items()}
    chunks = _chunk_count(files["observations"])
    scratch = study.root / ".tmp" / "inat-open-data"
    shutil.rmtree(scratch, ignore_errors=True)  # what a killed import left
    scratch.mkdir(parents=True)
    try:
        return _write_in_chunks(study, folder, files, src, chunks, scratch, base_url,
                                max_rejects, report)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        con.execute("DROP TABLE IF EXISTS fg_od_people")


def _write_in_chunks(study: Study, folder: Path, files: dict[str, Path], src: dict[str, str],
                     chunks: int, scratch: Path, base_url: str, max_rejects: int,
                     report: IngestReport) -> IngestReport:
    con = study.con
    chunk_of = f"hash(observation_uuid) % {chunks} AS chunk"
    try:
        # Only the columns the import uses, converted once here (the reader skips the rest).
        _split(con, f"""
            SELECT observation_uuid, observer_id, taxon_id,
                   try_cast({value_sql("observed_on")} AS DATE) AS observed_on,
                   try_cast({value_sql("latitude")} AS DOUBLE) AS latitude,
                   try_cast({value_sql("longitude")} AS DOUBLE) AS longitude,
                   try_cast({value_sql("positional_accuracy")} AS DOUBLE)
                       AS positional_accuracy,
                   {value_sql("quality_grade")} AS quality_grade, {chunk_of}
            FROM {src['observations']}""", scratch / "observations", chunks)
    except duckdb.Error as exc:
        raise InputError(f"unreadable table: {str(exc).splitlines()[0]}",
                         path=files["observations"]) from None
    obs = _chunk_files(scratch / "observations")
    all_obs = _parquet(list(obs.values()))
    bad_obs = _rejections(con, "observations", files["observations"])
    staged = int(scalar(con, f"SELECT count(*) FROM {all_obs}")) if obs else 0
    report.rows_read = staged + len(bad_obs)
    report.rejections = bad_obs
    # The same uuid always lands in the same chunk, so a duplicate shows within one.
    dup = [row for part in obs.values() for row in con.execute(
        f"SELECT observation_uuid FROM {_parquet([part])} GROUP BY 1 HAVING count(*) > 1 "
        "LIMIT 1").fetchall()][:1]
    if not dup and obs:
        dup = con.execute(f"""SELECT observation_uuid FROM {all_obs}
            WHERE observation_uuid IN (SELECT observation_id FROM observations) LIMIT 1
        """).fetchall()
    if dup:
        raise InputError(f"observation {dup[0][0]} appears twice, or is already in the study",
                         path=files["observations"], field="observation_uuid")
    report.rows_kept = report.rows_read - len(bad_obs)
    observers = (f"SELECT observer_id, nullif({value_sql('name')}, 'None') AS name, "
                 f"{value_sql('login')} AS login FROM {src['observers']}" if "observers" in src
                 else "SELECT NULL::VARCHAR AS observer_id, NULL::VARCHAR AS name, "
                      "NULL::VARCHAR AS login LIMIT 0")
    con.execute(f"CREATE OR REPLACE TEMP TABLE fg_od_people AS {observers}")
    try:
        _split(con, f"""
            SELECT photo_id, observation_uuid, observer_id, extension, license, width, height,
                   position, {chunk_of}
            FROM {src['photos']}
            WHERE {value_sql("photo_id")} IS NOT NULL
              AND photo_id NOT IN (SELECT photo_id FROM photos)""", scratch / "photos", chunks)
    except duckdb.Error as exc:
        raise InputError(f"unreadable table: {str(exc).splitlines()[0]}",
                         path=files["photos"]) from None
    photos = _chunk_files(scratch / "photos")
    bad_photos = _rejections(con, "photos", files["photos"])
    base = base_url.rstrip("/").replace("'", "''")

    def write(con: duckdb.DuckDBPyConnection, import_id: int) -> None:
        created = _write_taxa(con, src.get("taxa"), import_id)
        if obs:
            con.execute(f"""
                INSERT INTO observations BY NAME
                SELECT o.observation_uuid AS observation_id, '{SOURCE}' AS source,
                       coalesce(p.login, o.observer_id) AS observer, o.observed_on,
                       o.latitude, o.longitude, o.positional_accuracy, t.taxon_id,
                       o.quality_grade, {import_id} AS import_id
                FROM {all_obs} o LEFT JOIN fg_od_people p USING (observer_id)
                LEFT JOIN (SELECT source_key, min(taxon_id) AS taxon_id FROM taxa
                           WHERE source = '{SOURCE}' GROUP BY 1) t ON t.source_key = o.taxon_id
            """)
        holder = "coalesce(pe.name, pe.login, ph.observer_id)"
        # One chunk at a time: each hash table holds one chunk's observations (a photo's
        # observation is in the chunk of the same number). Photos already in the study were
        # left out when the chunks were written, before this import wrote any.
        for chunk in sorted(photos.keys() & obs.keys()):
            con.execute(f"""
                INSERT INTO photos BY NAME
                SELECT ph.photo_id, ph.observation_uuid AS observation_id,
                       try_cast(ph.position AS INTEGER) + 1 AS position,
                       '{base}/photos/' || ph.photo_id || '/medium.' || lower(ph.extension)
                           AS url,
                       {value_sql("ph.license")} AS license, {holder} AS creator,
                       {holder} AS rights_holder,
                       '(c) ' || {holder} || CASE WHEN upper(ph.license) = 'CC0'
                            THEN ', no rights reserved (CC0)'
                            ELSE ', some rights reserved (' || ph.license || ')' END
                           AS attribution,
                       try_cast(ph.width AS INTEGER) AS width,
                       try_cast(ph.height AS INTEGER) AS height, {import_id} AS import_id
                FROM {_parquet([photos[chunk]])} ph
                SEMI JOIN {_parquet([obs[chunk]])} o USING (observation_uuid)
                LEFT JOIN fg_od_people pe ON pe.observer_id = ph.observer_id
            """)
        report.rejections += bad_photos
        if len(report.rejections) > max_rejects:
            check_rejects(report, folder, max_rejects)
        report.counts = count_rows(con, import_id, ["observations", "photos"])
        report.counts["taxa created"] = created

    try:
        return write_import(study, report, write)
    except duckdb.Error as exc:
        raise InputError(f"unreadable table: {str(exc).splitlines()[0]}", path=folder) from None


def _chunk_count(observations: Path) -> int:
    """How many chunks to split the import into: about :data:`OBSERVATIONS_PER_CHUNK` each
    (the nearest count: a chunk holds at most 1.5 times it), judged from the file's size (its
    rows are not counted before it is read)."""
    per_row = BYTES_PER_OBSERVATION[observations.name.endswith(".gz")]
    return max(1, round(observations.stat().st_size / (per_row * OBSERVATIONS_PER_CHUNK)))


def _split(con: duckdb.DuckDBPyConnection, select: str, folder: Path, chunks: int) -> None:
    """Write ``select``'s rows to Parquet files under ``folder``, one folder per chunk. Each
    open file gathers a row group before writing it, so the row groups are made smaller as
    the chunks grow in number: together they hold :data:`SPLIT_ROWS` rows at most."""
    literal = str(folder).replace("'", "''")
    rows = min(max(SPLIT_ROWS // chunks, MIN_ROW_GROUP), ROW_GROUP)
    con.execute(f"COPY ({select}) TO '{literal}' "
                f"(FORMAT parquet, PARTITION_BY (chunk), ROW_GROUP_SIZE {rows})")


def _chunk_files(folder: Path) -> dict[int, str]:
    """The Parquet files of each chunk that has rows (an empty chunk has no folder)."""
    if not folder.is_dir():
        return {}
    return {int(part.name.removeprefix("chunk=")): str(part / "*.parquet")
            for part in folder.iterdir() if part.name.startswith("chunk=")}


def _parquet(globs: list[str]) -> str:
    """A read_parquet call over some chunks' files, without the chunk number as a column."""
    listed = ", ".join("'" + g.replace("'", "''") + "'" for g in globs)
    return f"read_parquet([{listed}], hive_partitioning=false)"


def _rejections(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> list[Rejection]:
    """The rows DuckDB could not parse in one table, with their lines (the header is 1)."""
    try:
        rows = con.execute(f"SELECT line, error_message FROM fg_od_rejects_{name} "
                           "ORDER BY line").fetchall()
    except duckdb.CatalogException:
        return []
    finally:
        con.execute(f"DROP TABLE IF EXISTS fg_od_rejects_{name}")
        con.execute(f"DROP TABLE IF EXISTS fg_od_scan_{name}")
    return [Rejection(line=int(line), reason=f"{path.name}: {msg.strip()}") for line, msg in rows]


def _write_taxa(con: duckdb.DuckDBPyConnection, reader: str | None, import_id: int) -> int:
    """New taxa (keyed by iNaturalist's taxon_id), each under the last id of its ancestry."""
    if reader is None:
        return 0
    before = int(scalar(con, "SELECT count(*) FROM taxa"))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE fg_od_taxa AS
        WITH src AS (SELECT * FROM {reader} WHERE taxon_id NOT IN
                     (SELECT source_key FROM taxa WHERE source = '{SOURCE}'
                      AND source_key IS NOT NULL))
        SELECT (SELECT coalesce(max(taxon_id), 0) FROM taxa)
                   + row_number() OVER (ORDER BY try_cast(taxon_id AS BIGINT), taxon_id)
                   AS new_id, *
        FROM src
    """)
    con.execute(f"""
        INSERT INTO taxa BY NAME
        SELECT s.new_id AS taxon_id, s.name, lower(s.rank) AS rank,
               try_cast(s.rank_level AS DOUBLE) AS rank_level,
               coalesce(p.new_id, k.taxon_id) AS parent_id, '{SOURCE}' AS source,
               s.taxon_id AS source_key, {import_id} AS import_id
        FROM fg_od_taxa s
        LEFT JOIN fg_od_taxa p
          ON p.taxon_id = nullif(list_last(string_split(s.ancestry, '/')), '')
        LEFT JOIN (SELECT source_key, min(taxon_id) AS taxon_id FROM taxa
                   WHERE source = '{SOURCE}' GROUP BY 1) k
          ON k.source_key = nullif(list_last(string_split(s.ancestry, '/')), '')
    """)
    con.execute("DROP TABLE IF EXISTS fg_od_taxa")
    return int(scalar(con, "SELECT count(*) FROM taxa")) - before


FORMAT = IngestFormat(ingest_inat_open_data, "folder", (
    Param("base_url", "The photo bucket's base URL.", default=OPEN_DATA_BASE_URL),
    MAX_REJECTS, FORCE))
