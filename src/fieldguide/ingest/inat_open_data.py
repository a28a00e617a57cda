"""iNaturalist's open-data metadata: the ``observations``, ``photos``, ``taxa`` and
``observers`` tables published beside the licensed-photo bucket (tab-separated, with a header,
gzipped or not; files named ``observations.csv[.gz]`` and so on, as AWS serves them).

At their real scale (hundreds of millions of photos) nothing passes through Python: DuckDB's
CSV reader streams each file straight into the study's tables with SQL joins. Memory stays flat
in the number of rows: the import runs under :data:`MEMORY_LIMIT` (DuckDB spills joins and
staged rows to the study's temporary folder beyond it), without keeping insertion order (so
inserts stream instead of buffering), stages only the observation columns it uses, typed, and
joins in a fixed order (:data:`FIXED_JOIN_ORDER`) so that the photos, the largest table, stream
past hash tables of observations instead of being hashed themselves.
Photo URLs follow the bucket's pattern
``{base}/photos/{photo_id}/medium.{extension}`` (``photos fetch --size`` picks another size);
the rights holder is the observer's name (else login), and the attribution reads as
iNaturalist writes it: ``(c) NAME, some rights reserved (CC-BY)``.
"""

from __future__ import annotations

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
#: it then fills at 10M observations). The import's hash tables are keyed by observations,
#: not photos (:data:`FIXED_JOIN_ORDER`), and 2M observations / 5M photos need about 1 GB, so
#: a larger import spills to the study's temporary folder at the same peak instead of growing;
#: the rest of the process needs a couple of hundred MB beside.
MEMORY_LIMIT = "1GB"
#: The join order exactly as written, with each join's hash table built on its right-hand
#: side. DuckDB cannot know how many rows a CSV file holds (it guesses a few dozen), so it
#: would hash the photos table (every photo's columns, the largest thing in the import) and
#: stream the observations past it; written out, every hash table is keyed by the
#: observations, observers or taxa, and the photos stream through.
FIXED_JOIN_ORDER = "join_order,build_side_probe_side"
#: The connection settings an import changes, each restored afterwards.
SETTINGS = ("memory_limit", "preserve_insertion_order", "disabled_optimizers")
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
    try:
        return _ingest(study, folder, files, base_url, max_rejects)
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
    try:
        # Only the columns the import uses, converted once here (the reader skips the rest).
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE fg_od_obs AS
            SELECT observation_uuid, observer_id, taxon_id,
                   try_cast({value_sql("observed_on")} AS DATE) AS observed_on,
                   try_cast({value_sql("latitude")} AS DOUBLE) AS latitude,
                   try_cast({value_sql("longitude")} AS DOUBLE) AS longitude,
                   try_cast({value_sql("positional_accuracy")} AS DOUBLE)
                       AS positional_accuracy,
                   {value_sql("quality_grade")} AS quality_grade
            FROM {src['observations']}""")
    except duckdb.Error as exc:
        raise InputError(f"unreadable table: {str(exc).splitlines()[0]}",
                         path=files["observations"]) from None
    bad_obs = _rejections(con, "observations", files["observations"])
    report.rows_read = int(scalar(con, "SELECT count(*) FROM fg_od_obs")) + len(bad_obs)
    report.rejections = bad_obs
    dup = con.execute("""
        SELECT observation_uuid FROM fg_od_obs GROUP BY 1 HAVING count(*) > 1
        UNION ALL SELECT observation_uuid FROM fg_od_obs
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
    base = base_url.rstrip("/").replace("'", "''")

    def write(con: duckdb.DuckDBPyConnection, import_id: int) -> None:
        created = _write_taxa(con, src.get("taxa"), import_id)
        con.execute(f"""
            INSERT INTO observations BY NAME
            SELECT o.observation_uuid AS observation_id, '{SOURCE}' AS source,
                   coalesce(p.login, o.observer_id) AS observer, o.observed_on,
                   o.latitude, o.longitude, o.positional_accuracy, t.taxon_id,
                   o.quality_grade, {import_id} AS import_id
            FROM fg_od_obs o LEFT JOIN fg_od_people p USING (observer_id)
            LEFT JOIN (SELECT source_key, min(taxon_id) AS taxon_id FROM taxa
                       WHERE source = '{SOURCE}' GROUP BY 1) t ON t.source_key = o.taxon_id
        """)
        holder = "coalesce(pe.name, pe.login, ph.observer_id)"
        con.execute(f"""
            INSERT INTO photos BY NAME
            SELECT ph.photo_id, ph.observation_uuid AS observation_id,
                   try_cast(ph.position AS INTEGER) + 1 AS position,
                   '{base}/photos/' || ph.photo_id || '/medium.' || lower(ph.extension) AS url,
                   {value_sql("ph.license")} AS license, {holder} AS creator,
                   {holder} AS rights_holder,
                   '(c) ' || {holder} || CASE WHEN upper(ph.license) = 'CC0'
                        THEN ', no rights reserved (CC0)'
                        ELSE ', some rights reserved (' || ph.license || ')' END AS attribution,
                   try_cast(ph.width AS INTEGER) AS width,
                   try_cast(ph.height AS INTEGER) AS height, {import_id} AS import_id
            FROM {src['photos']} ph SEMI JOIN fg_od_obs o USING (observation_uuid)
            LEFT JOIN fg_od_people pe ON pe.observer_id = ph.observer_id
            WHERE {value_sql("ph.photo_id")} IS NOT NULL
              AND ph.photo_id NOT IN (SELECT photo_id FROM photos)
        """)
        report.rejections += _rejections(con, "photos", files["photos"])
        if len(report.rejections) > max_rejects:
            check_rejects(report, folder, max_rejects)
        report.counts = count_rows(con, import_id, ["observations", "photos"])
        report.counts["taxa created"] = created

    try:
        return write_import(study, report, write)
    except duckdb.Error as exc:
        raise InputError(f"unreadable table: {str(exc).splitlines()[0]}", path=folder) from None
    finally:
        con.execute("DROP TABLE IF EXISTS fg_od_obs")
        con.execute("DROP TABLE IF EXISTS fg_od_people")


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
