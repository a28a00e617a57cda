"""Crowd votes: CSV ``task,worker,label`` or peerannot's ``answers.json`` ({task: {worker: label}}),
with optional Pl@ntNet-style side files: authors (one author per task, task = line index),
AI answers and AI scores ({task: label} / {task: score}) and ground truth.

The JSON and side-file formats are read by :mod:`fieldguide.votes.io` (their one reader, also
behind ``fieldguide aggregate FILE``): a worker named "AI" in answers.json is the AI's vote,
stored as a prediction, not a person's identification. A CSV is staged by the ingest's CSV
reader (encodings, per-row rejects) with the same columns.

Tasks become observations (stubs when the study does not have them yet). A worker's repeated
vote on one task is kept as history: only the last one is current, as on iNaturalist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

import fieldguide.ingest.csvfile as csvfile
import fieldguide.ingest.rowchecks as rowchecks
from fieldguide.errors import InputError
from fieldguide.ingest.commit import already_imported, apply_checks, write_import
from fieldguide.ingest.csvfile import Check
from fieldguide.ingest.report import IngestReport
from fieldguide.ingest.taxa import (
    TaxonRequest,
    key_table,
    plan_taxa,
    unknown_taxon_checks,
    write_taxa,
)
from fieldguide.store import Study
from fieldguide.store.sql import first_row
from fieldguide.votes.io import Pair, read_answers_json, read_side_files, read_truth_pairs

KIND = "votes"
# ignore: labels are opaque codes; extend: labels are taxon names, new ones become taxa;
# strict: labels must name taxa the study already has.
LabelTaxa = Literal["ignore", "extend", "strict"]


def ingest_votes(
    study: Study,
    path: str | Path,
    *,
    authors: str | Path | None = None,
    ai_answers: str | Path | None = None,
    ai_scores: str | Path | None = None,
    truth: str | Path | None = None,
    taxa: LabelTaxa = "ignore",
    model: str = "ai",
    max_rejects: int = 0,
    force: bool = False,
    encoding: str = "utf-8",
) -> IngestReport:
    """Load a vote table and its side files in one transaction (see module doc).
    ``encoding``: the vote CSV's, when it is not UTF-8 (side files are always UTF-8)."""
    path = Path(path)
    if not force and (skipped := already_imported(study, KIND, path)):
        return skipped
    con = study.con
    report = IngestReport(kind=KIND, path=path)
    table_dialect = csvfile.Dialect(encoding=encoding)
    dialect: csvfile.Dialect | None = table_dialect
    ai_in_answers = None
    if path.suffix.lower() == ".json":
        report.rows_read, ai_in_answers = _stage_answers_json(con, path)
        dialect = None
    else:
        columns = csvfile.read_header(path, table_dialect)
        csvfile.require_columns(path, columns, ["task", "worker", "label"])
        report.rows_read = csvfile.stage(con, path, "fg_stage", columns, table_dialect)
        if report.rows_read == 0:
            raise InputError("no votes: the file has a header only", path=path, line=2)
    checks = [
        Check(f"{rowchecks.cell(c)} IS NULL", c, f"'empty {c}'")  # "NA" too: required
        for c in ("task", "worker", "label")
    ]
    checks += rowchecks.no_nul(["task", "worker", "label"])
    plan = None
    if taxa != "ignore":
        names = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT trim(label) FROM fg_stage "
                "WHERE nullif(trim(label), '') IS NOT NULL"
            ).fetchall()
        ]
        plan = plan_taxa(
            con, [TaxonRequest(key=n, name=n) for n in names], source="votes", mode=taxa
        )
        key_table(con, plan, "fg_taxon_keys")
        checks += unknown_taxon_checks(con, plan, "trim(label)", "label")
    bad = apply_checks(con, path, report, checks, max_rejects, dialect)
    side = _read_side_files(authors, ai_answers, ai_scores, truth, ai_in_answers)

    def write(con: duckdb.DuckDBPyConnection, import_id: int) -> None:
        if plan is not None:
            write_taxa(con, plan, import_id)
        taxon = "k.taxon_id" if plan is not None else "NULL::BIGINT"
        join = "LEFT JOIN fg_taxon_keys k ON k.key = trim(s.label)" if plan is not None else ""
        # A worker's latest vote on a task is current; the earlier ones are few, so they are
        # found by grouping (no sort of every vote).
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE fg_superseded AS
            SELECT s.rowid AS rid FROM fg_stage s JOIN (
                SELECT trim(task) AS t, trim(worker) AS w, max(rowid) AS last FROM fg_stage
                WHERE rowid NOT IN (SELECT rid FROM {bad}) GROUP BY ALL HAVING count(*) > 1
            ) r ON trim(s.task) = r.t AND trim(s.worker) = r.w AND s.rowid < r.last
        """)
        con.execute(f"""
            INSERT INTO identifications BY NAME
            SELECT trim(s.task) AS observation_id, trim(s.worker) AS user_id,
                   trim(s.label) AS label, {taxon} AS taxon_id,
                   s.rowid NOT IN (SELECT rid FROM fg_superseded) AS is_current,
                   false AS is_author, {import_id} AS import_id
            FROM fg_stage s {join} WHERE s.rowid NOT IN (SELECT rid FROM {bad})
        """)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE fg_tasks AS
            SELECT DISTINCT observation_id FROM identifications WHERE import_id = {import_id}
        """)
        con.execute(f"""
            INSERT INTO observations (observation_id, source, import_id)
            SELECT observation_id, 'votes', {import_id} FROM fg_tasks
            WHERE observation_id NOT IN (SELECT observation_id FROM observations)
        """)
        _write_side(con, side, model, import_id, report)
        row = first_row(
            con.execute(f"""
            SELECT count(DISTINCT observation_id), count(DISTINCT user_id),
                   count(*) FILTER (WHERE is_current), count(DISTINCT label),
                   count(*) FILTER (WHERE NOT is_current)
            FROM identifications WHERE import_id = {import_id}
        """)
        )
        assert row is not None
        report.counts.update(tasks=row[0], workers=row[1], votes=row[2], labels=row[3])
        if row[4]:
            report.notes.append(
                f"{row[4]:,} earlier vote(s) by the same worker on the same "
                "task kept as history (not current)"
            )

    return write_import(study, report, write)


def _stage_answers_json(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[int, Pair | None]:
    """peerannot's {task: {worker: label}}, read by the votes package's reader, into
    ``fg_stage(task, worker, label)``; returns the rows staged and the "AI" worker's answers."""
    task, worker, label, ai = read_answers_json(path)
    table = pa.table({"task": _strings(task), "worker": _strings(worker),
                      "label": _strings(label)})
    con.register("fg_json_view", table)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE fg_stage AS SELECT * FROM fg_json_view")
    finally:
        con.unregister("fg_json_view")
    return table.num_rows, ai


def _strings(values: Any) -> pa.Array:
    """Stored ids and labels are text; a JSON null becomes empty (refused by the row checks)."""
    return pa.array(["" if v is None else str(v) for v in values.tolist()], pa.string())


def _read_side_files(
    authors: str | Path | None,
    ai_answers: str | Path | None,
    ai_scores: str | Path | None,
    truth: str | Path | None,
    ai_in_answers: Pair | None,
) -> dict[str, list[tuple[str, Any]]]:
    """Read and check the optional per-task files (by the votes package's readers, so the
    study holds what ``fieldguide aggregate FILE`` would use) before anything is written."""
    author_pairs, ai_pairs, score_pairs = read_side_files(
        authors, ai_answers, ai_scores, ai_in_answers=ai_in_answers
    )
    side: dict[str, list[tuple[str, Any]]] = {}
    if author_pairs is not None:
        side["authors"] = _rows(author_pairs, str)
    if ai_pairs is not None:
        side["ai"] = _rows(ai_pairs, str)
    if score_pairs is not None:
        side["scores"] = _rows(score_pairs, float)
    if truth is not None:
        side["truth"] = _rows(read_truth_pairs(truth), str)
    return side


def _rows(pair: Pair, value: Any) -> list[tuple[str, Any]]:
    return [(str(t), value(v)) for t, v in zip(pair[0].tolist(), pair[1].tolist(), strict=True)]


def _write_side(
    con: duckdb.DuckDBPyConnection,
    side: dict[str, list[tuple[str, Any]]],
    model: str,
    import_id: int,
    report: IngestReport,
) -> None:
    """Authors, AI votes and truth for the tasks of this vote table (others are ignored)."""

    def load(name: str, rows: list[tuple[str, Any]], kind: pa.DataType) -> None:
        table = pa.table(
            {
                "task": pa.array([r[0] for r in rows], pa.string()),
                "value": pa.array([r[1] for r in rows], kind),
            }
        )
        con.register(f"{name}_view", table)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_view "
            "WHERE task IN (SELECT observation_id FROM fg_tasks)"
        )
        con.unregister(f"{name}_view")

    if "authors" in side:
        load("fg_authors", side["authors"], pa.string())
        con.execute("""UPDATE observations SET observer = a.value FROM fg_authors a
                       WHERE observations.observation_id = a.task""")
        con.execute(f"""UPDATE identifications SET is_author = true FROM fg_authors a
                        WHERE identifications.import_id = {import_id}
                          AND identifications.observation_id = a.task
                          AND identifications.user_id = a.value""")
        report.counts["authors"] = _count(con, "fg_authors")
    if "ai" in side:
        load("fg_ai", side["ai"], pa.string())
        scores = side.get("scores", [])
        load("fg_ai_scores", scores, pa.float64())
        con.execute(
            """
            INSERT INTO predictions BY NAME
            SELECT a.task AS observation_id, ?::VARCHAR AS model,
                   a.value AS label, s.value AS score, 1 AS k, ?::INTEGER AS import_id
            FROM fg_ai a LEFT JOIN fg_ai_scores s USING (task)
        """,
            [model, import_id],
        )
        report.counts["AI votes"] = _count(con, "fg_ai")
    if "truth" in side:
        load("fg_truth", side["truth"], pa.string())
        con.execute("""
            INSERT OR REPLACE INTO labels BY NAME
            SELECT task AS observation_id, 'truth' AS method, value AS label,
                   true AS validated, now()::TIMESTAMP AS created_at FROM fg_truth
        """)
        report.counts["truth labels"] = _count(con, "fg_truth")


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = first_row(con.execute(f"SELECT count(*) FROM {table}"))
    return int(row[0]) if row else 0
