"""A flat CSV of GBIF occurrences (Darwin Core column names), with the archive's multimedia.txt.

For GBIF-mediated iNaturalist records kept as a cleaned CSV, such as the spotted lanternfly
set: ``gbifID``, ``recordedBy``, ``lifeStage``, ``eventDate``, ``decimalLatitude`` or ``lat``,
``decimalLongitude`` or ``lng``, ``scientificName``, ``taxonID``. Photos come only from
``multimedia.txt`` (tab-separated, unquoted) joined on ``gbifID``: columns of photo URLs pasted
into such CSVs are not trusted (the lanternfly one is misaligned row-wise).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

import fieldguide.ingest.csvfile as csvfile
import fieldguide.ingest.rowchecks as rowchecks
from fieldguide.errors import InputError
from fieldguide.ingest.commit import already_imported, apply_checks, count_rows, write_import
from fieldguide.ingest.csvfile import TSV_UNQUOTED, Check
from fieldguide.ingest.format import ENCODING, FORCE, MAX_REJECTS, TAXA, IngestFormat, Param
from fieldguide.ingest.gbif_media import stage_media, write_media
from fieldguide.ingest.inat_csv import guess_rank
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
from fieldguide.taxonomy import canonical_name

KIND = "gbif-csv"


def ingest_gbif_csv(
    study: Study,
    path: str | Path,
    *,
    multimedia: str | Path | None = None,
    taxa: TaxonMode = "extend",
    max_rejects: int = 0,
    force: bool = False,
    encoding: str = "utf-8",
) -> IngestReport:
    """Load occurrences (observations with life stage) and, from ``multimedia``, photos.
    ``encoding``: the occurrence CSV's, when it is not UTF-8 (a re-saved spreadsheet)."""
    path = Path(path)
    if not force and (skipped := already_imported(study, KIND, path)):
        return skipped
    dialect = csvfile.Dialect(encoding=encoding)
    columns = csvfile.read_header(path, dialect)
    csvfile.require_columns(path, columns, ["gbifID", "eventDate", "scientificName"])
    con = study.con
    report = IngestReport(kind=KIND, path=path)
    report.rows_read = csvfile.stage(con, path, "fg_stage", columns, dialect)

    def col(*names: str) -> str:
        return next((quote_ident(n) for n in names if n in columns), "NULL")

    def value(*names: str) -> str:  # the cell's value, NULL when missing or the column absent
        return rowchecks.value_sql(col(*names))

    lat, lon = col("decimalLatitude", "lat"), col("decimalLongitude", "lng")
    checks = [
        Check(f"{rowchecks.cell('gbifID')} IS NULL", "gbifID", "'missing gbifID'"),
        Check("rowid NOT IN (SELECT min(rowid) FROM fg_stage GROUP BY trim(gbifID))", "gbifID",
              "'duplicate gbifID ' || trim(gbifID) || ' (also on an earlier line)'"),
        Check("trim(gbifID) IN (SELECT observation_id FROM observations)", "gbifID",
              "'occurrence ' || trim(gbifID) || ' is already in the study'"),
        Check(f"{rowchecks.cell('eventDate')} IS NOT NULL AND "
              f"{rowchecks.date_sql('eventDate')} IS NULL",
              "eventDate", "'not a date: ' || eventDate"),
    ]
    if lat == "NULL" or lon == "NULL":
        which = "decimalLatitude (or lat)" if lat == "NULL" else "decimalLongitude (or lng)"
        raise InputError(f"missing column {which}: occurrences need coordinates", path=path,
                         line=1, field=which.split()[0])
    for expr, name, limit in ((lat, "latitude", 90), (lon, "longitude", 180)):
        v = rowchecks.value_sql(expr)
        checks.append(Check(
            f"{v} IS NOT NULL AND (try_cast({v} AS DOUBLE) IS NULL "
            f"OR abs(try_cast({v} AS DOUBLE)) > {limit:d})",
            expr[1:-1].replace('""', '"'), f"'not a {name}: ' || {expr}"))
    checks += rowchecks.no_nul(["gbifID", "scientificName"])
    checks.append(rowchecks.dates("eventDate")[1])  # the future; "not a date" is above
    key = rowchecks.cell("scientificName")
    names = [r[0] for r in con.execute(
        f"SELECT DISTINCT {key} FROM fg_stage WHERE {key} IS NOT NULL").fetchall()]
    requests = []
    for raw in names:
        name = canonical_name(raw)
        words = name.split()
        lineage = (("genus", words[0]),) if len(words) >= 2 else ()
        requests.append(TaxonRequest(key=raw, name=name, rank=guess_rank(name), lineage=lineage))
    plan = plan_taxa(con, requests, source="gbif", mode=taxa)
    key_table(con, plan, "fg_taxon_keys")
    checks += unknown_taxon_checks(con, plan, key, "scientificName")
    bad = apply_checks(con, path, report, checks, max_rejects, dialect)
    if multimedia is not None:
        media = Path(multimedia)
        media_columns = csvfile.read_header(media, TSV_UNQUOTED)
        csvfile.require_columns(media, media_columns, ["gbifID", "identifier"])
        stage_media(con, media, media_columns, TSV_UNQUOTED, "gbifID")

    def write(con: duckdb.DuckDBPyConnection, import_id: int) -> None:
        write_taxa(con, plan, import_id)
        con.execute(f"""
            INSERT INTO observations BY NAME
            SELECT trim(s.gbifID) AS observation_id, 'gbif' AS source,
                   {value("recordedBy")} AS observer,
                   {rowchecks.date_sql("eventDate")} AS observed_on,
                   try_cast({rowchecks.value_sql(lat)} AS DOUBLE) AS latitude,
                   try_cast({rowchecks.value_sql(lon)} AS DOUBLE) AS longitude,
                   k.taxon_id, {key} AS verbatim_name,
                   lower({value("lifeStage")}) AS life_stage,
                   {value("stateProvince")} AS place, {import_id} AS import_id
            FROM fg_stage s LEFT JOIN fg_taxon_keys k ON k.key = {key}
            WHERE s.rowid NOT IN (SELECT rid FROM {bad})""")
        if multimedia is not None:
            report.counts.update(write_media(con, import_id))
        report.counts.update(count_rows(con, import_id, ["observations", "photos"]))
        report.counts["taxa created"] = len(plan.new_taxa)

    return write_import(study, report, write)


FORMAT = IngestFormat(ingest_gbif_csv, "occurrences", (
    Param("multimedia", "GBIF multimedia.txt (photo URLs, joined on gbifID).", kind="path"),
    TAXA, MAX_REJECTS, FORCE, ENCODING))
