"""A reference taxonomy into the study: Open Tree's interim format (taxonomy.tsv +
synonyms.tsv, as GBIF, NCBI and OTT subsets ship) or iNaturalist's open-data taxa.csv.

Loading one first lets later ingestions run with ``taxa="strict"``: names that the taxonomy
(or its synonyms) does not know are refused instead of silently becoming new taxa.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pyarrow as pa

from fieldguide.errors import InputError
from fieldguide.ingest.commit import already_imported, write_import
from fieldguide.ingest.format import FORCE, IngestFormat, Param
from fieldguide.ingest.report import IngestReport
from fieldguide.ingest.taxa import maybe_hybrid
from fieldguide.store import Study
from fieldguide.store.sql import scalar
from fieldguide.taxonomy import (
    SynonymTable,
    canonical_name,
    is_hybrid,
    rank_level,
    read_inat_taxa_csv,
    read_interim,
)

KIND = "taxonomy"
TaxonomyFormat = Literal["interim", "inat"]


def ingest_taxonomy(
    study: Study,
    path: str | Path,
    *,
    fmt: TaxonomyFormat = "interim",
    source: str | None = None,
    force: bool = False,
) -> IngestReport:
    """Load every taxon (with its parent and rank) and synonym; ids stay the source's keys."""
    path = Path(path)
    if not force and (skipped := already_imported(study, KIND, path)):
        return skipped
    synonyms = SynonymTable()
    if fmt == "interim":
        taxonomy, synonyms = read_interim(path)
    elif fmt == "inat":
        taxonomy = read_inat_taxa_csv(path)
    else:
        raise InputError(f"unknown taxonomy format {fmt!r}; use interim or inat", field="format")
    source = source or (path.name if fmt == "interim" else "inaturalist")
    con = study.con
    keys = taxonomy.ids.astype(str)
    con.register("fg_keys", pa.table({"key": keys}))
    clash = scalar(
        con,
        "SELECT min(source_key) FROM taxa WHERE source = ? AND source_key IN "
        "(SELECT key FROM fg_keys)",
        [source],
    )
    con.unregister("fg_keys")
    if clash is not None:
        raise InputError(
            f"taxon {clash} of source {source!r} is already in the study; "
            "use another --source name",
            path=path,
        )
    report = IngestReport(kind=KIND, path=path, rows_read=len(taxonomy), rows_kept=len(taxonomy))

    def write(con: duckdb.DuckDBPyConnection, import_id: int) -> None:
        first = study.next_taxon_id()
        study_ids = np.arange(first, first + len(taxonomy), dtype=np.int64)
        parents = np.where(
            taxonomy.parent_rows >= 0, study_ids[np.maximum(taxonomy.parent_rows, 0)], -1
        )
        ranks = [
            taxonomy.rank_vocab[c] if c < len(taxonomy.rank_vocab) else None
            for c in taxonomy.rank_codes.tolist()
        ]
        _insert(
            con,
            "taxa",
            pa.table(
                {
                    "taxon_id": study_ids,
                    "name": taxonomy.names,
                    "rank": ranks,
                    "rank_level": pa.array([rank_level(r) for r in ranks], pa.float64()),
                    "parent_id": pa.array(parents, pa.int64(), mask=parents < 0),
                    "is_hybrid": [
                        maybe_hybrid(n, r) and is_hybrid(n, r)
                        for n, r in zip(taxonomy.names, ranks, strict=True)
                    ],
                    "source": [source] * len(taxonomy),
                    "source_key": keys,
                    "import_id": pa.array(np.full(len(taxonomy), import_id), pa.int32()),
                }
            ),
        )
        if len(synonyms):
            rows = taxonomy.indices(synonyms.taxon_ids)
            _insert(
                con,
                "synonyms",
                pa.table(
                    {
                        "name": [canonical_name(n) for n in synonyms.names],
                        "taxon_id": study_ids[rows],
                        "kind": [t or "synonym" for t in synonyms.types],
                        "source": [source] * len(synonyms),
                        "import_id": pa.array(np.full(len(synonyms), import_id), pa.int32()),
                    }
                ),
            )
        report.counts.update(taxa=len(taxonomy), synonyms=len(synonyms))

    return write_import(study, report, write)


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    con.register("fg_rows", rows)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM fg_rows")
    finally:
        con.unregister("fg_rows")


FORMAT = IngestFormat(ingest_taxonomy, "path", (
    Param("fmt", "interim (Open Tree: taxonomy.tsv + synonyms.tsv) or inat (taxa.csv).",
          default="interim", flags=("--format",), choices=("interim", "inat")),
    Param("source", "Name of the source (default: the folder's name)."),
    FORCE))
