"""Reading delimited files into DuckDB fast, and mapping any problem back to a file line.

The fast path is DuckDB's parallel CSV reader into a staging table of text columns; checks are
SQL over that table. Only when something is wrong do we scan the file in Python to turn a record
number into the physical line a person sees (quoted fields may span several lines).
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from fieldguide.errors import InputError
from fieldguide.ingest.report import Rejection
from fieldguide.store.sql import first_row


@dataclass(frozen=True)
class Dialect:
    """How a delimited file is written. GBIF archives: tab, no quoting."""

    delimiter: str = ","
    quote: str = '"'
    header_lines: int = 1
    encoding: str = "utf-8"


CSV = Dialect()
TSV_UNQUOTED = Dialect(delimiter="\t", quote="")


def read_header(path: Path, dialect: Dialect = CSV) -> list[str]:
    """The column names, checking first that the file exists, is not empty and is UTF-8."""
    if not path.is_file():
        raise InputError("file not found", path=path)
    if path.stat().st_size == 0:
        raise InputError("file is empty (no header, no rows)", path=path, line=1)
    with path.open("rb") as f:
        raw = f.readline()
    try:
        text = raw.decode(dialect.encoding).lstrip("\ufeff").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not {dialect.encoding} text (byte {exc.start}); re-save the file as UTF-8",
            path=path,
            line=1,
        ) from None
    if not text.strip():
        raise InputError("first line is blank; expected a header", path=path, line=1)
    reader = _reader([text], dialect)
    columns = [c.strip() for c in next(reader)]
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise InputError(f"column {name!r} appears twice in the header", path=path, line=1)
        seen.add(name)
    return columns


def require_columns(path: Path, columns: Sequence[str], required: Iterable[str]) -> None:
    """Refuse a file lacking a column the ingester needs, naming the first missing one."""
    missing = [c for c in required if c not in columns]
    if missing:
        raise InputError(
            f"missing required column {missing[0]!r}"
            + (f" (and {', '.join(missing[1:])})" if len(missing) > 1 else "")
            + f"; the header has: {', '.join(columns[:12])}{' ...' if len(columns) > 12 else ''}",
            path=path,
            line=1,
            field=missing[0],
        )


def stage(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    columns: Sequence[str],
    dialect: Dialect = CSV,
    keep: Collection[str] | None = None,
) -> int:
    """Load every record as text into temp table ``table`` (rowid = record order); return rows.

    ``keep`` names the columns an ingester uses (the others are parsed, not stored: a GBIF
    occurrence file has 240). A record that does not parse (wrong number of fields, bad
    encoding, open quote) refuses the whole file with its line: a truncated or mangled file is
    not half-imported.
    """
    select = "*" if keep is None else ", ".join(f'"{c}"' for c in columns if c in keep)
    col_spec = "{" + ", ".join(f"'{_q(c)}': 'VARCHAR'" for c in columns) + "}"
    rejects = f"{table}_rejects"
    con.execute(f"DROP TABLE IF EXISTS {rejects}")
    con.execute(f"DROP TABLE IF EXISTS {rejects}_scan")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {select} "
        f"FROM read_csv('{_q(str(path))}', "
        f"columns={col_spec}, header={'true' if dialect.header_lines else 'false'}, "
        f"skip={max(dialect.header_lines - 1, 0)}, delim='{_q(dialect.delimiter)}', "
        f"quote='{_q(dialect.quote)}', escape='{_q(dialect.quote)}', auto_detect=false, "
        f"strict_mode=true, null_padding=false, store_rejects=true, "
        f"rejects_table='{rejects}', rejects_scan='{rejects}_scan', encoding='utf-8')"
    )
    bad = first_row(
        con.execute(
            f"SELECT line, column_name, error_type, error_message FROM {rejects} "
            "ORDER BY line LIMIT 1"
        )
    )
    n_bad = first_row(con.execute(f"SELECT count(*) FROM {rejects}"))
    con.execute(f"DROP TABLE IF EXISTS {rejects}")
    con.execute(f"DROP TABLE IF EXISTS {rejects}_scan")
    if bad is not None:
        record, column, kind, message = bad
        line = physical_lines(path, [int(record) - 1], dialect).get(int(record) - 1, int(record))
        if kind == "INVALID ENCODING":
            reason = "not UTF-8 text; re-save the file as UTF-8"
        elif kind in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
            reason = f"{message.strip()} (truncated or malformed row?)"
        else:
            reason = message.strip()
        more = int(n_bad[0]) - 1 if n_bad else 0
        raise InputError(
            reason + (f" [and {more} more bad row(s)]" if more > 0 else ""),
            path=path,
            line=line,
            field=column if kind == "INVALID ENCODING" else None,
        )
    row = first_row(con.execute(f"SELECT count(*) FROM {table}"))
    return int(row[0]) if row else 0


def physical_lines(path: Path, records: Iterable[int], dialect: Dialect = CSV) -> dict[int, int]:
    """Map 0-based record numbers (header = 0) to the 1-based line on which each starts."""
    wanted = sorted(set(records))
    if not wanted:
        return {}
    out: dict[int, int] = {}
    with path.open(encoding=dialect.encoding, errors="replace", newline="") as f:
        reader = _reader(f, dialect)
        start = 1
        targets = iter(wanted)
        target = next(targets)
        for record in itertools.count():
            if record == target:
                out[record] = start
                nxt = next(targets, None)
                if nxt is None:
                    break
                target = nxt
            try:
                next(reader)
            except StopIteration:
                break
            start = reader.line_num + 1
    return out


@dataclass(frozen=True)
class Check:
    """A SQL condition that marks a staged row as bad, with the field and reason to report."""

    condition: str
    field: str
    reason: str


def find_bad_rows(con: duckdb.DuckDBPyConnection, table: str, checks: Sequence[Check]) -> str:
    """Create temp table ``{table}_bad(rowid, field, reason)``: one row per failed check."""
    bad = f"{table}_bad"
    parts = [
        f"SELECT rowid AS rid, '{_q(c.field)}' AS field, {c.reason} AS reason "
        f"FROM {table} WHERE {c.condition}"
        for c in checks
    ]
    query = (
        " UNION ALL ".join(parts)
        if parts
        else ("SELECT NULL::BIGINT AS rid, NULL::VARCHAR AS field, NULL::VARCHAR AS reason LIMIT 0")
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {bad} AS {query}")
    return bad


def rejections(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    bad_table: str,
    dialect: Dialect | None = CSV,
    limit: int = 1000,
) -> list[Rejection]:
    """The first ``limit`` rejections in file order, with physical line numbers when the
    source is a delimited file (``dialect`` None: a JSON or folder source, no lines)."""
    rows = con.execute(
        f"SELECT rid, field, reason FROM {bad_table} ORDER BY rid, field LIMIT {limit}"
    ).fetchall()
    if dialect is None:
        return [Rejection(line=None, reason=reason, field=field) for _, field, reason in rows]
    lines = physical_lines(path, [int(r[0]) + dialect.header_lines for r in rows], dialect)
    return [
        Rejection(line=lines.get(int(rid) + dialect.header_lines), reason=reason, field=field)
        for rid, field, reason in rows
    ]


def sql_literal(text: str) -> str:
    """A SQL string literal (for reasons and paths built into queries)."""
    return "'" + _q(text) + "'"


def _q(text: str) -> str:
    return text.replace("'", "''")


def _reader(lines: Iterable[str], dialect: Dialect) -> Any:
    """A csv.reader that splits records exactly as DuckDB was told to."""
    if dialect.quote:
        return csv.reader(lines, delimiter=dialect.delimiter, quotechar=dialect.quote)
    return csv.reader(lines, delimiter=dialect.delimiter, quoting=csv.QUOTE_NONE)
