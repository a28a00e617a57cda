"""iNaturalist observation exports (the CSV from the Export Observations page).

Standard columns used: id, observed_on, time_observed_at, user_id / user_login, latitude,
longitude, positional_accuracy, taxon_id, scientific_name, quality_grade, license,
captive_cultivated, place_guess, image_url, sound_url (the observation's recording, table
``sounds``), iconic_taxon_name and the optional rank columns taxon_kingdom_name ...
taxon_form_name. The export's own annotation columns (observation
fields ``field:<name>``, and 'Plant Phenology', 'Flowers and Fruits', 'Life Stage'... when
present; see ``traits.inat_annotation_columns``) are written as observation traits, values as
given. Extra columns are ignored.

A taxon's lineage is built from, in order of trust: the rank columns; the iconic taxon (with
the kingdom and phylum it implies, so a bee is Animalia > Arthropoda > Insecta even when only
``iconic_taxon_name`` was exported; ignored where it contradicts the rank columns' kingdom);
and the name itself (a binomial's genus, an infraspecific name's species), each filling only
the ranks the one before left empty. So a subspecies always sits under its species.

Observers: one person is one observer whichever columns a file has. The observer key is the
iNaturalist ``user_id`` (stable: logins can be renamed); a file with only ``user_login`` is
mapped to ids through the (user_id, user_login) pairs learned from every file in the study
that carries both (table ``observers``), and a login not yet known is kept as the key until a
later file pairs it with its id, when the earlier observations are rewritten to the id.

Ingestion is deterministic: a taxon key's name, iconic taxon and lineage are the values most
rows give (ties: the smallest), and taxa are planned in a fixed order (see ``plan_taxa``).

Each row's values are checked before anything is written (``ingest.rowchecks``): no NUL byte
in any kept text, coordinates in range, dates and times that parse and are not in the future,
``positional_accuracy`` a number >= 0, ``captive_cultivated`` a known true/false, ids unique in
the file and new to the study, and one photo id on one observation only. A bad row is one
rejection naming its line and field, counted against ``max_rejects``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

import fieldguide.ingest.csvfile as csvfile
import fieldguide.ingest.rowchecks as rowchecks
from fieldguide.ingest.commit import already_imported, apply_checks, count_rows, write_import
from fieldguide.ingest.csvfile import Check, Dialect
from fieldguide.ingest.format import ENCODING, FORCE, MAX_REJECTS, TAXA, IngestFormat
from fieldguide.ingest.report import IngestReport
from fieldguide.ingest.taxa import (
    TaxonMode,
    TaxonRequest,
    key_table,
    plan_taxa,
    unknown_taxon_checks,
    write_taxa,
)
from fieldguide.ingest.traits import inat_annotation_columns
from fieldguide.store import Study
from fieldguide.store.sql import quote_ident
from fieldguide.taxonomy import parse_name, rank_level

KIND = "inat-csv"
SOURCE = "inaturalist"
# Every rank column iNaturalist's export offers, most inclusive first.
RANK_COLUMNS = [
    (rank, f"taxon_{rank}_name")
    for rank in (
        "kingdom", "phylum", "subphylum", "superclass", "class", "subclass", "superorder",
        "order", "suborder", "superfamily", "family", "subfamily", "supertribe", "tribe",
        "subtribe", "genus", "genushybrid", "species", "hybrid", "subspecies", "variety",
        "form",
    )
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
    "sound_url",
    "iconic_taxon_name",
    *(c for _, c in RANK_COLUMNS),
}
# iNaturalist's iconic taxa with the lineage each implies (most inclusive first).
_ANIMALIA = ("kingdom", "Animalia")
_CHORDATA = ("phylum", "Chordata")
_ARTHROPODA = ("phylum", "Arthropoda")
ICONIC_LINEAGE: dict[str, tuple[tuple[str, str], ...]] = {
    "Plantae": (("kingdom", "Plantae"),),
    "Animalia": (_ANIMALIA,),
    "Fungi": (("kingdom", "Fungi"),),
    "Chromista": (("kingdom", "Chromista"),),
    "Protozoa": (("kingdom", "Protozoa"),),
    "Mollusca": (_ANIMALIA, ("phylum", "Mollusca")),
    "Aves": (_ANIMALIA, _CHORDATA, ("class", "Aves")),
    "Amphibia": (_ANIMALIA, _CHORDATA, ("class", "Amphibia")),
    "Reptilia": (_ANIMALIA, _CHORDATA, ("class", "Reptilia")),
    "Mammalia": (_ANIMALIA, _CHORDATA, ("class", "Mammalia")),
    "Actinopterygii": (_ANIMALIA, _CHORDATA, ("class", "Actinopterygii")),
    "Arachnida": (_ANIMALIA, _ARTHROPODA, ("class", "Arachnida")),
    "Insecta": (_ANIMALIA, _ARTHROPODA, ("class", "Insecta")),
}
ICONIC_RANKS = {name: lineage[-1][0] for name, lineage in ICONIC_LINEAGE.items()}
# iNaturalist's photo id, cut from a static photo URL (.../photos/2923252/medium.jpg).
PHOTO_ID = "nullif(regexp_extract(trim(image_url), '/photos/([^/]+)', 1), '')"
# iNaturalist's sound id, cut from a sound URL (.../sounds/123456.wav); else <id>-sound.
SOUND_ID = ("coalesce(nullif(regexp_extract(trim(sound_url), '/sounds/([^/.?]+)', 1), ''), "
            "trim(id) || '-sound')")


def ingest_inat_csv(
    study: Study,
    path: str | Path,
    *,
    taxa: TaxonMode = "extend",
    max_rejects: int = 0,
    force: bool = False,
    encoding: str = "utf-8",
) -> IngestReport:
    """Load one export: observations, their first photo, and their taxa (see module doc).
    ``encoding``: the file's, when it is not UTF-8 (an export re-saved by a spreadsheet)."""
    path = Path(path)
    if not force and (skipped := already_imported(study, KIND, path)):
        return skipped
    dialect = Dialect(encoding=encoding)
    columns = csvfile.read_header(path, dialect)
    csvfile.require_columns(path, columns, ["id", "observed_on", "scientific_name"])
    if "user_id" not in columns and "user_login" not in columns:
        csvfile.require_columns(path, columns, ["user_id"])
    con = study.con
    report = IngestReport(kind=KIND, path=path)
    annotations = inat_annotation_columns(columns)
    report.rows_read = csvfile.stage(
        con, path, "fg_stage", columns, dialect, keep=USED_COLUMNS | set(annotations)
    )

    def col(name: str) -> str:  # the cell's value, NULL when missing or the column absent
        return rowchecks.value_sql(csvfile.col(name, columns))

    observer, login_join = _observer_keys(con, columns)
    checks = [
        Check(f"{rowchecks.cell('id')} IS NULL", "id", "'missing observation id'"),
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
        Check(
            f"{_raw_observer(columns)} IS NULL",
            "user_id" if "user_id" in columns else "user_login",
            "'no observer (user_id and user_login empty)'",
        ),
    ]
    checks += _value_checks(columns, annotations)
    requests = _taxon_requests(con, columns)
    plan = plan_taxa(con, requests, source=SOURCE, mode=taxa)
    key_table(con, plan, "fg_taxon_keys")
    taxon_key = _taxon_key_sql(columns)
    checks += unknown_taxon_checks(con, plan, taxon_key, "scientific_name")
    bad = apply_checks(con, path, report, checks, max_rejects, dialect)

    observed_at = (rowchecks.timestamp_sql("time_observed_at")
                   if "time_observed_at" in columns else "NULL")
    captive = (rowchecks.boolean_sql("captive_cultivated")
               if "captive_cultivated" in columns else "NULL")

    def write(con: duckdb.DuckDBPyConnection, import_id: int) -> None:
        write_taxa(con, plan, import_id)
        con.execute(f"""
            INSERT INTO observations BY NAME
            SELECT trim(s.id) AS observation_id, '{SOURCE}' AS source,
                   {observer} AS observer,
                   {rowchecks.date_sql("observed_on")} AS observed_on,
                   {observed_at} AS observed_at,
                   try_cast({col("latitude")} AS DOUBLE) AS latitude,
                   try_cast({col("longitude")} AS DOUBLE) AS longitude,
                   try_cast({col("positional_accuracy")} AS DOUBLE) AS positional_accuracy,
                   k.taxon_id, {col("scientific_name")} AS verbatim_name,
                   {col("quality_grade")} AS quality_grade, {col("license")} AS license,
                   {captive} AS captive,
                   {col("place_guess")} AS place, {import_id} AS import_id
            FROM fg_stage s LEFT JOIN fg_taxon_keys k ON k.key = {_taxon_key_sql(columns, "s.")}
            {login_join}
            WHERE s.rowid NOT IN (SELECT rid FROM {bad})
        """)
        _learn_observers(con, import_id)
        if "image_url" in columns:
            con.execute(f"""
                INSERT INTO photos BY NAME
                SELECT coalesce({PHOTO_ID}, trim(id) || '-1') AS photo_id,
                       trim(id) AS observation_id, 1 AS position, {col("image_url")} AS url,
                       {col("license")} AS license, {import_id} AS import_id
                FROM fg_stage WHERE {col("image_url")} IS NOT NULL
                  AND rowid NOT IN (SELECT rid FROM {bad})
            """)
        if "sound_url" in columns:  # the observation's recording (fieldguide.sound)
            con.execute(f"""
                INSERT INTO sounds BY NAME
                SELECT {SOUND_ID} AS sound_id, trim(id) AS observation_id, 1 AS position,
                       {col("sound_url")} AS url, {col("license")} AS license,
                       {import_id} AS import_id
                FROM fg_stage WHERE {col("sound_url")} IS NOT NULL
                  AND rowid NOT IN (SELECT rid FROM {bad})
            """)
        for column, trait in annotations.items():
            cell = rowchecks.cell(column)
            con.execute(f"""
                INSERT INTO traits BY NAME
                SELECT trim(id) AS observation_id, ? AS trait, {cell} AS value,
                       ? AS import_id FROM fg_stage
                WHERE {cell} IS NOT NULL AND rowid NOT IN (SELECT rid FROM {bad})
            """, [trait, import_id])
        report.counts = count_rows(con, import_id, ["observations", "photos"]
                                   + (["sounds"] if "sound_url" in columns else []))
        report.counts["taxa created"] = len(plan.new_taxa)
        if annotations:
            report.counts.update(count_rows(con, import_id, ["traits"]))

    return write_import(study, report, write)


def _raw_observer(columns: Sequence[str]) -> str:
    """The row's own observer text, id first (NULL when the row names nobody)."""
    parts = [rowchecks.cell(c) for c in ("user_id", "user_login") if c in columns]
    return f"coalesce({', '.join(parts)})" if len(parts) > 1 else parts[0]


def _observer_keys(con: duckdb.DuckDBPyConnection, columns: Sequence[str]) -> tuple[str, str]:
    """Create ``fg_login_ids(user_login, user_id)`` from the study's learned pairs and this
    file's own rows; return the observer expression over ``fg_stage s`` and the join that
    it needs: the row's id, else its login's learned id, else the login (module docstring)."""
    pairs = (
        f"UNION ALL SELECT {rowchecks.cell('user_login')}, {rowchecks.cell('user_id')} "
        "FROM fg_stage"
        if "user_id" in columns and "user_login" in columns
        else ""
    )
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE fg_login_ids AS
        SELECT user_login, min(user_id) AS user_id FROM (
            SELECT user_login, user_id FROM observers WHERE source = '{SOURCE}' {pairs})
        WHERE user_login IS NOT NULL AND user_id IS NOT NULL GROUP BY user_login""")
    if "user_login" not in columns:
        return rowchecks.value_sql('s."user_id"'), ""
    login = rowchecks.value_sql('s."user_login"')
    own_id = rowchecks.value_sql('s."user_id"') + ", " if "user_id" in columns else ""
    return (
        f"coalesce({own_id}m.user_id, {login})",
        f"LEFT JOIN fg_login_ids m ON m.user_login = {login}",
    )


def _learn_observers(con: duckdb.DuckDBPyConnection, import_id: int) -> None:
    """Record the pairs not yet known, and move earlier observations keyed by a login that
    now has an id onto that id (call inside the import's transaction)."""
    con.execute(f"""
        INSERT INTO observers BY NAME
        SELECT '{SOURCE}' AS source, user_id, user_login, ? AS import_id FROM fg_login_ids
        WHERE NOT EXISTS (SELECT 1 FROM observers k WHERE k.source = '{SOURCE}'
                          AND k.user_login = fg_login_ids.user_login
                          AND k.user_id = fg_login_ids.user_id)""",
        [import_id])
    con.execute(f"""
        UPDATE observations o SET observer = m.user_id FROM fg_login_ids m
        WHERE o.source = '{SOURCE}' AND o.observer = m.user_login""")


def _value_checks(columns: Sequence[str], annotations: dict[str, str]) -> list[Check]:
    """The ``rowchecks`` this export's columns call for (module docstring)."""
    has = set(columns)
    texts = sorted((USED_COLUMNS | set(annotations)) & has)
    checks = rowchecks.no_nul(texts)
    checks += rowchecks.coordinates(
        "latitude" if "latitude" in has else None, "longitude" if "longitude" in has else None
    )
    checks += rowchecks.dates(
        "observed_on", time_column="time_observed_at" if "time_observed_at" in has else None
    )
    checks += rowchecks.numbers([c for c in ("positional_accuracy",) if c in has], minimum=0)
    checks += rowchecks.booleans([c for c in ("captive_cultivated",) if c in has])
    if "image_url" in has:
        checks.append(rowchecks.unique_across("id", "image_url", value_sql=PHOTO_ID))
        checks.append(Check(
            f"{PHOTO_ID} IN (SELECT photo_id FROM photos)",
            "image_url",
            f"'photo ' || {PHOTO_ID} || ' is already in the study (on another observation)'",
        ))
    if "sound_url" in has:
        checks.append(Check(
            f"{rowchecks.cell('sound_url')} IS NOT NULL AND {SOUND_ID} IN "
            "(SELECT sound_id FROM sounds)",
            "sound_url",
            f"'recording ' || {SOUND_ID} || ' is already in the study'",
        ))
    return checks


def _taxon_key_sql(columns: Sequence[str], prefix: str = "") -> str:
    """The key that names a row's taxon: iNaturalist's taxon_id, else the name."""
    name = rowchecks.value_sql(f'{prefix}"scientific_name"')
    if "taxon_id" in columns:
        return f"coalesce({rowchecks.value_sql(prefix + quote_ident('taxon_id'))}, {name})"
    return name


def _taxon_requests(con: duckdb.DuckDBPyConnection, columns: Sequence[str]) -> list[TaxonRequest]:
    """One request per taxon key, with the values most of its rows give (ties: smallest), so
    a stray row (a plant's taxon with iconic taxon "Insecta") never decides the lineage and
    no run depends on the database's grouping order."""
    ranks = [(rank, c) for rank, c in RANK_COLUMNS if c in columns]
    values = [rowchecks.value_sql(csvfile.col(c, columns))
              for c in ("scientific_name", "taxon_id", "iconic_taxon_name", *(c for _, c in ranks))]
    rows = con.execute(
        f"SELECT {_taxon_key_sql(columns)} AS k, {', '.join(values)}, count(*) AS n "
        f"FROM fg_stage WHERE {rowchecks.cell('scientific_name')} IS NOT NULL GROUP BY ALL"
    ).fetchall()
    best: dict[str, tuple[int, tuple[str, ...]]] = {}
    for key, *vals, n in rows:
        text = tuple("" if v is None else str(v) for v in vals)
        held = best.get(key)
        if held is None or n > held[0] or (n == held[0] and text < held[1]):
            best[key] = (n, text)
    requests = []
    for key in sorted(best):
        name, source_key, iconic, *rank_names = best[key][1]
        columns_lineage = [(r, n) for (r, _), n in zip(ranks, rank_names, strict=True) if n]
        rank = next((r for r, n in reversed(columns_lineage) if n == name), None)
        if rank is None:
            rank = ICONIC_RANKS.get(name) or guess_rank(name)
        lineage = merge_lineage(columns_lineage, iconic, name, rank)
        requests.append(
            TaxonRequest(
                key=key, name=name, rank=rank, lineage=tuple(lineage),
                source_key=source_key or None,
            )
        )
    return requests


def merge_lineage(
    from_columns: Sequence[tuple[str, str]], iconic: str, name: str, rank: str | None
) -> list[tuple[str, str]]:
    """The (rank, name) ancestors of ``name``, most inclusive first (module docstring): the
    rank columns, then the iconic taxon's implied lineage, then the genus and species the
    name itself gives, each filling only ranks still empty; the taxon itself is left out."""
    lineage = {r: n for r, n in from_columns if n != name}
    implied = ICONIC_LINEAGE.get(iconic, ())
    kingdom = lineage.get("kingdom")
    if implied and (kingdom is None or kingdom == implied[0][1]):
        for r, n in implied:
            if n != name:
                lineage.setdefault(r, n)
    parsed = parse_name(name)
    own = rank_level(rank)
    if parsed.linnaean and parsed.genus and parsed.epithets and (own is None or own < 20):
        lineage.setdefault("genus", parsed.genus)
        if parsed.epithets and own is not None and own < 10:
            lineage.setdefault("species", f"{parsed.genus} {parsed.epithets[0]}")
    if own is not None:  # an ancestor is above the taxon: drop rank columns that are not
        lineage = {r: n for r, n in lineage.items() if (rank_level(r) or 0) > own}
    return sorted(lineage.items(), key=lambda item: -(rank_level(item[0]) or 0))


def guess_rank(name: str) -> str | None:
    """Species for a binomial, subspecies/variety/form for a trinomial, else unknown."""
    parsed = parse_name(name)
    if not parsed.linnaean or not parsed.epithets:
        return None
    if len(parsed.epithets) == 1:
        return "species"
    marker = {"var.": "variety", "f.": "form", "subsp.": "subspecies"}
    return next((marker[m] for m in parsed.markers if m in marker), "subspecies")


FORMAT = IngestFormat(ingest_inat_csv, "export", (TAXA, MAX_REJECTS, FORCE, ENCODING))
