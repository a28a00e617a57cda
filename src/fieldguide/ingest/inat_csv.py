"""iNaturalist observation exports (the CSV from the Export Observations page).

Standard columns used: id, observed_on, time_observed_at, user_id / user_login, latitude,
longitude, positional_accuracy, taxon_id, scientific_name, quality_grade, license,
captive_cultivated, place_guess, image_url, iconic_taxon_name and the optional rank columns
taxon_kingdom_name ... taxon_species_name. Extra columns are ignored.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from fieldguide.ingest import csvfile
from fieldguide.ingest.commit import already_imported, apply_checks, count_rows, write_import
from fieldguide.ingest.csvfile import Check
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

KIND = "inat-csv"
RANK_COLUMNS = [
    ("kingdom", "taxon_kingdom_name"),
    ("phylum", "taxon_phylum_name"),
    ("class", "taxon_class_name"),
    ("order", "taxon_order_name"),
    ("family", "taxon_family_name"),
    ("genus", "taxon_genus_name"),
    ("species", "taxon_species_name"),
]
USED_COLUMNS = {
    "id",
    "observed_on",
    "time_observed_at",
    "user_id",
    "user_login",
    "latitude",
    "longitude",
    "positional_accuracy",
    "taxon_id",
    "scientific_name",
    "quality_grade",
    "license",
    "captive_cultivated",
    "place_guess",
    "image_url",
    "iconic_taxon_name",
    *(c for _, c in RANK_COLUMNS),
}
# iNaturalist's iconic taxa and their ranks: a coarse lineage when no rank columns are exported.
ICONIC_RANKS = {
    "Plantae": "kingdom",
    "Animalia": "kingdom",
    "Fungi": "kingdom",
    "Chromista": "kingdom",
    "Protozoa": "kingdom",
    "Mollusca": "phylum",
    "Aves": "class",
    "Amphibia": "class",
    "Reptilia": "class",
    "Mammalia": "class",
    "Actinopterygii": "class",
    "Arachnida": "class",
    "Insecta": "class",
}


def ingest_inat_csv(
    study: Study,
    path: str | Path,
    *,
    taxa: TaxonMode = "extend",
    max_rejects: int = 0,
    force: bool = False,
) -> IngestReport:
    """Load one export: observations, their first photo, and their taxa (see module doc)."""
    path = Path(path)
    if not force and (skipped := already_imported(study, KIND, path)):
        return skipped
    columns = csvfile.read_header(path)
    csvfile.require_columns(path, columns, ["id", "observed_on", "scientific_name"])
    if "user_id" not in columns and "user_login" not in columns:
        csvfile.require_columns(path, columns, ["user_id"])
    con = study.con
    report = IngestReport(kind=KIND, path=path)
    report.rows_read = csvfile.stage(con, path, "fg_stage", columns, keep=USED_COLUMNS)

    def col(name: str) -> str:
        return f'"{name}"' if name in columns else "NULL"

    observer = (
        f"coalesce(nullif(trim({col('user_id')}), ''), nullif(trim({col('user_login')}), ''))"
    )
    checks = [
        Check("nullif(trim(id), '') IS NULL", "id", "'missing observation id'"),
        Check(
            "rowid NOT IN (SELECT min(rowid) FROM fg_stage GROUP BY trim(id))",
            "id",
            "'duplicate observation id ' || trim(id) || ' (also on an earlier line)'",
        ),
        Check(
            "trim(id) IN (SELECT observation_id FROM observations)",
            "id",
            "'observation id ' || trim(id) || ' is already in the study'",
        ),
        Check(f"{observer} IS NULL", "user_id", "'no observer (user_id and user_login empty)'"),
        Check(
            "nullif(trim(observed_on), '') IS NOT NULL "
            "AND try_cast(trim(observed_on) AS DATE) IS NULL",
            "observed_on",
            "'not a date: ' || observed_on",
        ),
    ]
    checks += _coordinate_checks(col("latitude"), col("longitude"))
    requests = _taxon_requests(con, columns)
    plan = plan_taxa(con, requests, source="inaturalist", mode=taxa)
    key_table(con, plan, "fg_taxon_keys")
    taxon_key = _taxon_key_sql(columns)
    checks += unknown_taxon_checks(con, plan, taxon_key, "scientific_name")
    bad = apply_checks(con, path, report, checks, max_rejects)

    def write(con: duckdb.DuckDBPyConnection, import_id: int) -> None:
        write_taxa(con, plan, import_id)
        con.execute(f"""
            INSERT INTO observations BY NAME
            SELECT trim(s.id) AS observation_id, 'inaturalist' AS source,
                   {observer} AS observer,
                   try_cast(trim(s.observed_on) AS DATE) AS observed_on,
                   coalesce(try_cast({col("time_observed_at")} AS TIMESTAMPTZ),
                            try_strptime({col("time_observed_at")}, '%Y-%m-%d %H:%M:%S %z'))
                       AS observed_at,
                   try_cast({col("latitude")} AS DOUBLE) AS latitude,
                   try_cast({col("longitude")} AS DOUBLE) AS longitude,
                   try_cast({col("positional_accuracy")} AS DOUBLE) AS positional_accuracy,
                   k.taxon_id, nullif(trim(s.scientific_name), '') AS verbatim_name,
                   {col("quality_grade")} AS quality_grade, {col("license")} AS license,
                   try_cast({col("captive_cultivated")} AS BOOLEAN) AS captive,
                   {col("place_guess")} AS place, {import_id} AS import_id
            FROM fg_stage s LEFT JOIN fg_taxon_keys k ON k.key = {_taxon_key_sql(columns, "s.")}
            WHERE s.rowid NOT IN (SELECT rid FROM {bad})
        """)
        if "image_url" in columns:
            con.execute(f"""
                INSERT INTO photos BY NAME
                SELECT coalesce(
                           nullif(split_part(split_part(image_url, '/photos/', 2), '/', 1), ''),
                           trim(id) || '-1') AS photo_id,
                       trim(id) AS observation_id, 1 AS position, image_url AS url,
                       {col("license")} AS license, {import_id} AS import_id
                FROM fg_stage WHERE nullif(trim(image_url), '') IS NOT NULL
                  AND rowid NOT IN (SELECT rid FROM {bad})
            """)
        report.counts = count_rows(con, import_id, ["observations", "photos"])
        report.counts["taxa created"] = len(plan.new_taxa)

    return write_import(study, report, write)


def _coordinate_checks(lat: str, lon: str) -> list[Check]:
    out = []
    for expr, name, limit in ((lat, "latitude", 90), (lon, "longitude", 180)):
        if expr == "NULL":
            continue
        out.append(
            Check(
                f"nullif(trim({expr}), '') IS NOT NULL AND (try_cast({expr} AS DOUBLE) IS NULL "
                f"OR abs(try_cast({expr} AS DOUBLE)) > {limit})",
                name,
                f"'not a {name} in [-{limit}, {limit}]: ' || {expr}",
            )
        )
    return out


def _taxon_key_sql(columns: list[str], prefix: str = "") -> str:
    """The key that names a row's taxon: iNaturalist's taxon_id, else the name."""
    name = f'trim({prefix}"scientific_name")'
    if "taxon_id" in columns:
        return f"coalesce(nullif(trim({prefix}\"taxon_id\"), ''), {name})"
    return name


def _taxon_requests(con: duckdb.DuckDBPyConnection, columns: list[str]) -> list[TaxonRequest]:
    ranks = [(rank, c) for rank, c in RANK_COLUMNS if c in columns]
    iconic = '"iconic_taxon_name"' if "iconic_taxon_name" in columns else "NULL"
    # One row per taxon key (a taxon's name and lineage are the same on all its rows).
    select = ", ".join(
        [
            'trim("scientific_name")',
            "nullif(trim(\"taxon_id\"), '')" if "taxon_id" in columns else "NULL",
            iconic,
        ]
        + [f'"{c}"' for _, c in ranks]
    )
    rows = con.execute(
        f"SELECT {_taxon_key_sql(columns)} AS k, any_value(({select})) FROM fg_stage "
        "WHERE nullif(trim(scientific_name), '') IS NOT NULL GROUP BY k"
    ).fetchall()
    requests = []
    for key, values in rows:
        name, source_key, iconic_name, *lineage_names = values
        lineage = [
            (rank, n.strip())
            for (rank, _), n in zip(ranks, lineage_names, strict=True)
            if n and n.strip()
        ]
        if not lineage:
            lineage = _lineage_from_name(name, iconic_name)
        lineage = [(r, n) for r, n in lineage if n != name]
        requests.append(
            TaxonRequest(
                key=key,
                name=name,
                rank=guess_rank(name),
                lineage=tuple(lineage),
                source_key=source_key,
            )
        )
    return requests


def _lineage_from_name(name: str, iconic: str | None) -> list[tuple[str, str]]:
    """Without rank columns: the iconic taxon, the genus, and the species of a trinomial."""
    lineage = [(ICONIC_RANKS[iconic], iconic)] if iconic in ICONIC_RANKS else []
    words = name.split()
    if len(words) >= 2 and words[0][:1].isupper():
        lineage.append(("genus", words[0]))
    if len(words) >= 3:
        lineage.append(("species", " ".join(words[:2])))
    return lineage


def guess_rank(name: str) -> str | None:
    """Species for a binomial, subspecies/variety/form for a trinomial, else unknown."""
    parts = [p for p in name.split() if p not in ("×", "x")]
    if len(parts) == 2:
        return "species"
    if len(parts) >= 3:
        marker = {"var.": "variety", "f.": "form", "subsp.": "subspecies"}
        return next((marker[p] for p in parts if p in marker), "subspecies")
    return None
