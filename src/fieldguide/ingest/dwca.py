"""GBIF Darwin Core Archives: meta.xml, an Occurrence core and its Multimedia extension.

The archive may be a folder or the .zip GBIF serves. meta.xml is parsed by python-dwca-reader;
the data files are read by DuckDB (GBIF's are tab-separated with no quoting). Taxa come from
GBIF's interpreted columns (acceptedTaxonKey, acceptedScientificName, kingdom..species); a
verbatim name that GBIF resolved to another accepted name is kept as a synonym.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import duckdb

import fieldguide.ingest.csvfile as csvfile
import fieldguide.ingest.rowchecks as rowchecks
from fieldguide.errors import InputError
from fieldguide.ingest.commit import already_imported, apply_checks, count_rows, write_import
from fieldguide.ingest.csvfile import Check, Dialect
from fieldguide.ingest.format import FORCE, MAX_REJECTS, TAXA, IngestFormat
from fieldguide.ingest.gbif_media import stage_media, write_media
from fieldguide.ingest.report import IngestReport
from fieldguide.ingest.taxa import (
    TaxonMode,
    TaxonRequest,
    key_table,
    plan_taxa,
    unknown_taxon_checks,
    write_taxa,
)
from fieldguide.store import Study
from fieldguide.store.sql import quote_ident
from fieldguide.taxonomy import MAIN_RANKS, canonical_name

KIND = "gbif-dwca"
OCCURRENCE = "http://rs.tdwg.org/dwc/terms/Occurrence"
MULTIMEDIA = "http://rs.gbif.org/terms/1.0/Multimedia"
LINEAGE = MAIN_RANKS[:-1]  # Darwin Core's higher-taxon terms: the main ranks above species
USED_TERMS = {
    "eventDate",
    "scientificName",
    "verbatimScientificName",
    "acceptedScientificName",
    "taxonKey",
    "acceptedTaxonKey",
    "taxonRank",
    "recordedBy",
    "decimalLatitude",
    "decimalLongitude",
    "coordinateUncertaintyInMeters",
    "license",
    "lifeStage",
    "locality",
    *LINEAGE,
}


def ingest_dwca(
    study: Study,
    path: str | Path,
    *,
    taxa: TaxonMode = "extend",
    max_rejects: int = 0,
    force: bool = False,
) -> IngestReport:
    """Load an occurrence archive's observations, photos and taxa into the study."""
    path = Path(path)
    if not path.exists():
        raise InputError("archive not found", path=path)
    if path.is_dir():
        return _ingest_folder(study, path, path, taxa, max_rejects, force)
    from fieldguide.inputs import ZipReader

    with tempfile.TemporaryDirectory(prefix="fieldguide-dwca-") as tmp, ZipReader(path) as zf:
        try:
            return _ingest_zip(study, zf, Path(tmp), path, taxa, max_rejects, force)
        except InputError as exc:
            # Name the member as ARCHIVE!member, never the temporary folder it was read from.
            shown = exc.path.replace(tmp, f"{path}!") if exc.path else None
            raise InputError(exc.reason.replace(tmp, f"{path}!"), shown, exc.line,
                             exc.field) from None


def _ingest_zip(study: Study, zf: Any, folder: Path, path: Path, taxa: TaxonMode,
                max_rejects: int, force: bool) -> IngestReport:
    """Only meta.xml and the files it names leave the archive, each checked on the way."""
    if "meta.xml" not in zf.members:
        raise InputError("no meta.xml: not a Darwin Core Archive", path=path)
    zf.extract("meta.xml", folder)
    descriptor = read_meta(folder)
    for section in [descriptor.core, *_media_sections(descriptor)]:
        zf.extract(section.file_location or "", folder, field="location")
    return _ingest_folder(study, folder, path, taxa, max_rejects, force)


def _media_sections(descriptor: Any) -> list[Any]:
    return [e for e in descriptor.extensions if e.type == MULTIMEDIA][:1]


def _data_file(folder: Path, section: Any, meta: Path) -> Path:
    """The data file a meta.xml section names, kept inside the archive's folder."""
    from fieldguide.inputs import inside

    target = inside(folder, section.file_location or "", meta, field="location")
    if not target.is_file():
        raise InputError(f"meta.xml names {section.file_location!r}, which is not in the "
                         "archive", path=meta, field="location")
    return target


def read_meta(folder: Path) -> Any:
    """Parse meta.xml, turning every way it can be broken into an error with its line."""
    from dwca.descriptors import ArchiveDescriptor
    from dwca.exceptions import InvalidArchive

    meta = folder / "meta.xml"
    if not meta.is_file():
        raise InputError("no meta.xml: not a Darwin Core Archive", path=folder)
    from fieldguide.inputs import read_text

    text = read_text(meta, what="meta.xml", max_bytes=16 * 2**20)
    try:
        descriptor = ArchiveDescriptor(text)
    except ParseError as exc:
        raise InputError(f"broken XML: {exc}", path=meta, line=exc.position[0]) from None
    except (InvalidArchive, AttributeError, TypeError, ValueError, KeyError) as exc:
        raise InputError(
            f"invalid archive descriptor: {exc or type(exc).__name__}", path=meta
        ) from None
    if descriptor.core.type != OCCURRENCE:
        raise InputError(
            f"core rowType is {descriptor.core.type!r}; expected {OCCURRENCE}",
            path=meta,
            field="rowType",
        )
    return descriptor


def _columns(section: Any, meta: Path) -> tuple[list[str], Dialect]:
    """Column names by index (a term's last path segment) and the file's dialect."""
    by_index: dict[int, str] = {}
    for f in section.fields:
        if f.get("index") is None:
            continue
        try:
            index = int(f["index"])
        except (TypeError, ValueError):
            raise InputError(
                f"field index {f['index']!r} is not a number", path=meta, field=f.get("term")
            ) from None
        if index < 0 or index > 10_000:
            raise InputError(f"field index {index} is out of range", path=meta,
                             field=f.get("term"))
        term = str(f.get("term") or "").rstrip("/").split("/")[-1]
        if "\x00" in term:
            raise InputError("NUL byte in a field term", path=meta, field="term")
        by_index.setdefault(index, term or f"column_{index}")
    if not by_index:
        raise InputError(f"no fields declared for {section.file_location}", path=meta)
    names = [by_index.get(i, f"column_{i}") for i in range(max(by_index) + 1)]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise InputError(f"term {twice!r} is declared for two columns", path=meta, field="term")
    try:
        header = int(section.raw_element.get("ignoreHeaderLines") or 0)
    except ValueError:
        raise InputError("ignoreHeaderLines is not a number", path=meta,
                         field="ignoreHeaderLines") from None
    if not 0 <= header <= 100:
        raise InputError(f"ignoreHeaderLines {header} is out of range", path=meta,
                         field="ignoreHeaderLines")
    dialect = Dialect(
        delimiter=section.fields_terminated_by or "\t",
        quote=section.fields_enclosed_by or "",
        header_lines=header,
    )
    return names, dialect


def _ingest_folder(
    study: Study,
    folder: Path,
    shown: Path,
    taxa: TaxonMode,
    max_rejects: int,
    force: bool,
) -> IngestReport:
    meta = folder / "meta.xml"
    descriptor = read_meta(folder)
    core_path = _data_file(folder, descriptor.core, meta)
    if not force and (skipped := already_imported(study, KIND, shown)):
        return skipped
    columns, dialect = _columns(descriptor.core, meta)
    id_col = _column_at(columns, descriptor.core.id_index, meta)
    csvfile.require_columns(core_path, columns, ["eventDate", "scientificName"])
    if dialect.header_lines:
        csvfile.read_header(core_path, dialect)
    con = study.con
    report = IngestReport(kind=KIND, path=shown)
    used = {id_col, *USED_TERMS}
    report.rows_read = csvfile.stage(con, core_path, "fg_stage", columns, dialect, keep=used)

    def col(name: str) -> str:  # the cell's value, NULL when missing or the column absent
        return rowchecks.value_sql(csvfile.col(name, columns))

    oid = f"trim({quote_ident(id_col)})"
    checks = [
        Check(f"{rowchecks.cell(id_col)} IS NULL", id_col, "'missing occurrence id'"),
        Check(
            f"rowid NOT IN (SELECT min(rowid) FROM fg_stage GROUP BY {oid})",
            id_col,
            f"'duplicate occurrence id ' || {oid}",
        ),
        Check(
            f"{oid} IN (SELECT observation_id FROM observations)",
            id_col,
            f"'occurrence id ' || {oid} || ' is already in the study'",
        ),
    ]
    for name, limit in (("decimalLatitude", 90), ("decimalLongitude", 180)):
        if name in columns:
            checks.append(
                Check(
                    f"{col(name)} IS NOT NULL AND "
                    f"(try_cast({col(name)} AS DOUBLE) IS NULL OR "
                    f"abs(try_cast({col(name)} AS DOUBLE)) > {limit:d})",
                    name,
                    f"'not a coordinate: ' || {quote_ident(name)}",
                )
            )
    checks += rowchecks.no_nul([id_col, "scientificName"])
    checks.append(rowchecks.dates("eventDate")[1])  # the future only: partial dates are valid
    taxon_key = (f"coalesce({col('acceptedTaxonKey')}, {col('taxonKey')}, "
                 f"{col('scientificName')})")
    plan = plan_taxa(con, _taxon_requests(con, columns, taxon_key), source="gbif", mode=taxa)
    key_table(con, plan, "fg_taxon_keys")
    checks += unknown_taxon_checks(con, plan, taxon_key, "scientificName")
    bad = apply_checks(con, core_path, report, checks, max_rejects, dialect)
    media = _media_sections(descriptor)
    if media:
        _stage_media(con, folder, media[0], meta)

    def write(con: duckdb.DuckDBPyConnection, import_id: int) -> None:
        write_taxa(con, plan, import_id)
        con.execute(f"""
            INSERT INTO observations BY NAME
            SELECT {oid} AS observation_id, 'gbif' AS source,
                   {col("recordedBy")} AS observer,
                   {rowchecks.date_sql("eventDate")} AS observed_on,
                   CASE WHEN length({col("eventDate")}) > 10
                        THEN try_cast({col("eventDate")} AS TIMESTAMPTZ) END AS observed_at,
                   try_cast({col("decimalLatitude")} AS DOUBLE) AS latitude,
                   try_cast({col("decimalLongitude")} AS DOUBLE) AS longitude,
                   try_cast({col("coordinateUncertaintyInMeters")} AS DOUBLE)
                       AS positional_accuracy,
                   k.taxon_id,
                   coalesce({col("verbatimScientificName")},
                            {col("scientificName")}) AS verbatim_name,
                   {col("license")} AS license,
                   lower({col("lifeStage")}) AS life_stage,
                   {col("locality")} AS place, {import_id} AS import_id
            FROM fg_stage s LEFT JOIN fg_taxon_keys k ON k.key = {taxon_key}
            WHERE s.rowid NOT IN (SELECT rid FROM {bad})
        """)
        _write_synonyms(con, columns, taxon_key, import_id)
        if media:
            report.counts.update(write_media(con, import_id))
        report.counts.update(count_rows(con, import_id, ["observations", "photos"]))
        report.counts["taxa created"] = len(plan.new_taxa)

    return write_import(study, report, write)


def _taxon_requests(
    con: duckdb.DuckDBPyConnection,
    columns: list[str],
    taxon_key: str,
) -> list[TaxonRequest]:
    lineage_cols = [c for c in LINEAGE if c in columns]
    def value(name: str) -> str:
        return rowchecks.value_sql(_q(name, columns))

    name = f"coalesce({value('acceptedScientificName')}, {value('scientificName')})"
    rank = f"lower({value('taxonRank')})"
    source_key = f"coalesce({value('acceptedTaxonKey')}, {value('taxonKey')})"
    rows = con.execute(
        f"SELECT DISTINCT {taxon_key}, {name}, {rank}, {source_key}"
        + "".join(f", {value(c)}" for c in lineage_cols)
        + f" FROM fg_stage WHERE {value('scientificName')} IS NOT NULL"
    ).fetchall()
    out = []
    for key, full_name, taxon_rank, skey, *lineage in rows:
        leaf = canonical_name(full_name)
        path = tuple(
            (r, n.strip())
            for r, n in zip(lineage_cols, lineage, strict=True)
            if n and n.strip() and n.strip() != leaf
        )
        out.append(
            TaxonRequest(key=key, name=leaf, rank=taxon_rank or None, lineage=path, source_key=skey)
        )
    return out


def _q(name: str, columns: list[str]) -> str:
    return csvfile.col(name, columns)


def _write_synonyms(
    con: duckdb.DuckDBPyConnection,
    columns: list[str],
    taxon_key: str,
    import_id: int,
) -> None:
    """Keep verbatim names that GBIF resolved to another accepted name, as synonyms."""
    if "acceptedScientificName" not in columns:
        return
    verbatim = rowchecks.value_sql('"scientificName"')
    accepted = rowchecks.value_sql('"acceptedScientificName"')
    pairs = con.execute(
        f"SELECT DISTINCT {verbatim}, k.taxon_id FROM fg_stage s "
        f"JOIN fg_taxon_keys k ON k.key = {taxon_key} "
        f"WHERE {verbatim} <> {accepted}"
    ).fetchall()
    rows = [(canonical_name(n), t, "synonym", "gbif", import_id) for n, t in pairs]
    known = {
        (canonical_name(n), t) for n, t in con.execute("SELECT name, taxon_id FROM taxa").fetchall()
    }
    known |= set(con.execute("SELECT name, taxon_id FROM synonyms").fetchall())
    rows = [r for r in rows if (r[0], r[1]) not in known]
    if rows:
        con.executemany("INSERT INTO synonyms VALUES (?, ?, ?, ?, ?)", rows)


def _stage_media(con: duckdb.DuckDBPyConnection, folder: Path, section: Any, meta: Path) -> None:
    columns, dialect = _columns(section, meta)
    media_path = _data_file(folder, section, meta)
    if dialect.header_lines:
        csvfile.read_header(media_path, dialect)
    stage_media(con, media_path, columns, dialect, _column_at(columns, section.coreid_index, meta))


def _column_at(columns: list[str], index: Any, meta: Path) -> str:
    """The column a meta.xml ``<id index>`` / ``<coreid index>`` points at."""
    try:
        return columns[int(index or 0)]
    except (ValueError, IndexError):
        raise InputError(f"id index {index!r} names no declared field", path=meta,
                         field="index") from None


FORMAT = IngestFormat(ingest_dwca, "archive", (TAXA, MAX_REJECTS, FORCE))
