"""The last step every ingester shares: refuse or accept the rejects, then write atomically."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from fieldguide.errors import InputError
from fieldguide.ingest.csvfile import (
    CSV,
    Check,
    Dialect,
    find_bad_rows,
    parse_errors,
    rejections,
)
from fieldguide.ingest.report import IngestReport, Rejection
from fieldguide.store import Study
from fieldguide.store.sql import first_row, quote_ident


def check_rejects(report: IngestReport, path: Path, max_rejects: int) -> None:
    """Raise if more rows were refused than allowed (default none): nothing gets written."""
    if max_rejects < 0:
        raise InputError(f"--max-rejects must be 0 or more, not {max_rejects}",
                         field="--max-rejects")
    if report.rows_rejected <= max_rejects:
        return
    if not report.rejections:
        raise InputError(f"{report.rows_rejected:,} row(s) refused", path=path)
    first: Rejection = report.rejections[0]
    more = report.rows_rejected - 1
    raise InputError(
        first.reason
        + (
            f" [{more:,} more row(s) refused; see the report, or pass "
            f"--max-rejects to keep the good rows]"
            if more
            else ""
        ),
        path=path,
        line=first.line,
        field=first.field,
    )


def write_import(
    study: Study,
    report: IngestReport,
    write: Callable[[duckdb.DuckDBPyConnection, int], None],
) -> IngestReport:
    """Record the import and run ``write(con, import_id)`` in one transaction."""
    with study.transaction() as con:
        import_id = study.new_import(
            report.kind,
            report.path,
            read=report.rows_read,
            kept=report.rows_kept,
            rejected=report.rows_rejected,
            report=report.as_dict(),
        )
        write(con, import_id)
    return report


def already_imported(study: Study, kind: str, path: Path) -> IngestReport | None:
    """A 'skipped' report when this exact file was ingested before (re-runs are harmless)."""
    if study.was_imported(kind, path):
        return IngestReport(kind=kind, path=path, skipped=True)
    return None


def count_rows(con: duckdb.DuckDBPyConnection, import_id: int, tables: list[str]) -> dict[str, int]:
    """How many rows of each table this import wrote."""
    out = {}
    for table in tables:
        row = first_row(
            con.execute(
                f"SELECT count(*) FROM {quote_ident(table)} WHERE import_id = ?", [import_id]
            )
        )
        out[table] = int(row[0]) if row else 0
    return out


def apply_checks(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    report: IngestReport,
    checks: list[Check],
    max_rejects: int,
    dialect: Dialect | None = CSV,
) -> str:
    """Run the row checks on ``fg_stage``, fill the report, refuse if over ``max_rejects``.

    Returns the name of the temp table of bad row ids, to exclude them when writing.
    """
    bad = find_bad_rows(con, "fg_stage", checks)
    report.rejections = rejections(con, path, bad, dialect)
    row = first_row(con.execute(f"SELECT count(DISTINCT rid) FROM {quote_ident(bad)}"))
    unparsed = len(parse_errors(con, "fg_stage")) if dialect is not None else 0
    report.rows_kept = report.rows_read - (int(row[0]) if row else 0) - unparsed
    check_rejects(report, path, max_rejects)
    return bad
