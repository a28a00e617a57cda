"""Crowd votes: CSV ``task,worker,label`` or peerannot's ``answers.json`` ({task: {worker: label}}),
with optional Pl@ntNet-style side files: authors (one author per task, task = line index),
AI answers and AI scores ({task: label} / {task: score}) and ground truth.

Tasks become observations (stubs when the study does not have them yet). A worker's repeated
vote on one task is kept as history: only the last one is current, as on iNaturalist.
"""

from __future__ import annotations

import math
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
    if path.suffix.lower() == ".json":
        report.rows_read = _stage_answers_json(con, path)
        dialect = None
    else:
        columns = csvfile.read_header(path, table_dialect)
        csvfile.require_columns(path, columns, ["task", "worker", "label"])
        report.rows_read = csvfile.stage(con, path, "fg_stage", columns, table_dialect)
        if report.rows_read == 0:
            raise InputError("no votes: the file has a header only", path=path, line=2)
    checks = [
        Check(f"nullif(trim({c}), '') IS NULL", c, f"'empty {c}'")
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
    side = _read_side_files(authors, ai_answers, ai_scores, truth)

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


def _stage_answers_json(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """peerannot's {task: {worker: label}} into ``fg_stage(task, worker, label)``."""
    from fieldguide.inputs import expect_nested_mapping

    data = expect_nested_mapping(_load_json(path), path, "{task: {worker: label}}")
    tasks: list[str] = []
    workers: list[str] = []
    labels: list[str] = []
    for task, answers in data.items():
        if not isinstance(answers, dict):
            raise InputError(
                f"task {task!r}: expected an object {{worker: label}}", path=path, field=str(task)
            )
        for worker, label in answers.items():
            tasks.append(str(task))
            workers.append(str(worker))
            labels.append("" if label is None else str(label))
    if not tasks:
        raise InputError("no votes in the file", path=path)
    table = pa.table({"task": tasks, "worker": workers, "label": labels})
    con.register("fg_json_view", table)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE fg_stage AS SELECT * FROM fg_json_view")
    finally:
        con.unregister("fg_json_view")
    return len(tasks)


def _load_json(path: Path) -> Any:
    from fieldguide.inputs import read_json

    return read_json(path)


def _read_lines(path: Path) -> list[str]:
    from fieldguide.inputs import read_lines

    lines = read_lines(path)
    for n, line in enumerate(lines, start=1):
        if "\x00" in line:
            raise InputError("NUL byte in the text", path=path, line=n)
    return lines


def _read_side_files(
    authors: str | Path | None,
    ai_answers: str | Path | None,
    ai_scores: str | Path | None,
    truth: str | Path | None,
) -> dict[str, list[tuple[str, Any]]]:
    """Read and check the optional per-task files before anything is written."""
    side: dict[str, list[tuple[str, Any]]] = {}
    if authors is not None:
        from fieldguide.inputs import nonempty_file

        nonempty_file(authors, what="authors file")
        side["authors"] = [
            (str(i), a.strip())
            for i, a in enumerate(_read_lines(Path(authors)))
            if a.strip() and a.strip() != "-1"
        ]
    if ai_answers is not None:
        data = _mapping(Path(ai_answers), "{task: label}", "AI answer")
        side["ai"] = [(str(k), str(v)) for k, v in data.items()]
    if ai_scores is not None:
        scores = _mapping(Path(ai_scores), "{task: score}", "AI score")
        checked = []
        for task, value in scores.items():
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or math.isnan(value) or not 0 <= value <= 1):
                raise InputError(
                    f"AI score {value!r} is not a probability in [0, 1]",
                    path=ai_scores,
                    field=f"task {task}",
                )
            checked.append((str(task), float(value)))
        side["scores"] = checked
    if truth is not None:
        from fieldguide.inputs import nonempty_file

        side["truth"] = _read_truth(nonempty_file(truth, what="truth file"))
    return side


def _mapping(path: Path, shape: str, what: str) -> dict[str, Any]:
    from fieldguide.inputs import expect_mapping, expect_scalars

    return expect_scalars(expect_mapping(_load_json(path), path, shape), path, what)


def _read_truth(path: Path) -> list[tuple[str, Any]]:
    """``task,truth`` CSV, or one label per line (task = line index, -1 = unknown)."""
    lines = _read_lines(path)
    if lines and lines[0].replace(" ", "") == "task,truth":
        out = []
        for n, line in enumerate(lines[1:], start=2):
            parts = line.split(",")
            if len(parts) != 2:
                raise InputError("expected 'task,truth'", path=path, line=n)
            out.append((parts[0].strip(), parts[1].strip()))
        return out
    return [(str(i), v.strip()) for i, v in enumerate(lines) if v.strip() not in ("", "-1")]


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
