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
from fieldguide.store.sql import first_row, quote_ident, quote_literal


@dataclass(frozen=True)
class Dialect:
    """How a delimited file is written. GBIF archives: tab, no quoting."""

    delimiter: str = ","
    quote: str = '"'
    header_lines: int = 1
    encoding: str = "utf-8"


CSV = Dialect()
# A record may be this long (iNaturalist descriptions can run to megabytes).
MAX_LINE_BYTES = 64 * 2**20
# The encodings DuckDB's CSV reader decodes itself (codec name -> DuckDB's name).
DUCKDB_ENCODINGS = {"utf-8": "utf-8", "latin-1": "latin-1", "iso8859-1": "latin-1",
                    "utf-16": "utf-16"}
TSV_UNQUOTED = Dialect(delimiter="\t", quote="")


def read_header(path: Path, dialect: Dialect = CSV) -> list[str]:
    """The column names, checking first that the file is a regular, non-empty text file in
    the dialect's encoding, and that every column has a distinct, non-empty name."""
    from fieldguide.inputs import check_encoding, regular_file
    from fieldguide.inputs.text import encoding_error

    regular_file(path)
    if path.stat().st_size == 0:
        raise InputError("file is empty (no header, no rows)", path=path, line=1)
    with path.open("rb") as f:
        raw = f.readline(MAX_LINE_BYTES)
    try:
        text = raw.decode(check_encoding(dialect.encoding)).lstrip("\ufeff").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise encoding_error(raw, exc.start, path, dialect.encoding) from None
    if not text.strip():
        raise InputError("first line is blank; expected a header", path=path, line=1)
    reader = _reader([text], dialect)
    columns = [c.strip() for c in next(reader)]
    seen: set[str] = set()
    for number, name in enumerate(columns, start=1):
        if not name:
            raise InputError(f"column {number} of the header has no name", path=path, line=1)
        if "\x00" in name:
            raise InputError(f"NUL byte in the name of column {number}", path=path, line=1)
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
    *,
    strict: bool = False,
) -> int:
    """Load every record as text into temp table ``table`` (rowid = record order); return the
    number of records read, including those that did not parse.

    ``keep`` names the columns an ingester uses (the others are parsed, not stored: a GBIF
    occurrence file has 240, and a long text in one of them costs nothing). A record that does
    not parse (wrong number of fields, open quote) is left out of ``table`` and listed in
    ``{table}_parse_errors``; :func:`fieldguide.ingest.commit.apply_checks` counts it against
    ``--max-rejects`` like any refused row. ``strict``: refuse the file at the first such
    record instead. A file that is not in the dialect's encoding is refused whole, with the
    line and offset of its first bad byte.
    """
    from fieldguide.inputs import check_encoding, first_bad_byte, regular_file

    regular_file(path)
    encoding = check_encoding(dialect.encoding)
    if encoding not in DUCKDB_ENCODINGS:
        raise InputError(
            f"encoding {dialect.encoding!r} is not supported for delimited files; use one of "
            f"{', '.join(DUCKDB_ENCODINGS)}, or re-save the file as UTF-8",
            field="--encoding",
        )
    select = "*" if keep is None else ", ".join(quote_ident(c) for c in columns if c in keep)
    col_spec = "{" + ", ".join(f"{quote_literal(c)}: 'VARCHAR'" for c in columns) + "}"
    target, rejects, scan = (quote_ident(n) for n in (table, f"{table}_rejects",
                                                      f"{table}_rejects_scan"))
    con.execute(f"DROP TABLE IF EXISTS {rejects}")
    con.execute(f"DROP TABLE IF EXISTS {scan}")
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {target} AS SELECT {select} "
            f"FROM read_csv(?, columns={col_spec}, header=?, skip=?, delim=?, quote=?, "
            "escape=?, auto_detect=false, strict_mode=true, null_padding=false, "
            f"store_rejects=true, rejects_table={quote_literal(f'{table}_rejects')}, "
            f"rejects_scan={quote_literal(f'{table}_rejects_scan')}, encoding=?, "
            "max_line_size=?, buffer_size=?)",
            [str(path), bool(dialect.header_lines), max(dialect.header_lines - 1, 0),
             dialect.delimiter, dialect.quote, dialect.quote, DUCKDB_ENCODINGS[encoding],
             MAX_LINE_BYTES, MAX_LINE_BYTES],
        )
    except duckdb.InvalidInputException as exc:
        raise _unreadable(path, exc) from None
    errors = con.execute(
        f"SELECT line, any_value(column_name), any_value(error_type), "
        f"any_value(error_message) FROM {rejects} GROUP BY line ORDER BY line"
    ).fetchall()
    con.execute(f"DROP TABLE IF EXISTS {rejects}")
    con.execute(f"DROP TABLE IF EXISTS {scan}")
    if any(kind == "INVALID ENCODING" for _, _, kind, _ in errors):
        found = first_bad_byte(path, encoding)
        raise found or InputError(f"not {encoding} text", path=path)
    # DuckDB's line is the 1-based record number, header included: the data record index.
    rows = [(int(line) - 1 - dialect.header_lines, column, _reason(kind, message))
            for line, column, kind, message in errors]
    if strict and rows:
        record = rows[0][0] + dialect.header_lines
        line = physical_lines(path, [record], dialect).get(record, record + 1)
        raise InputError(
            rows[0][2] + (f" [and {len(rows) - 1} more bad row(s)]" if len(rows) > 1 else ""),
            path=path,
            line=line,
        )
    errors_table = quote_ident(f"{table}_parse_errors")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {errors_table} "
                "(record BIGINT, field VARCHAR, reason VARCHAR)")
    if rows:
        con.executemany(f"INSERT INTO {errors_table} VALUES (?, ?, ?)", rows)
    row = first_row(con.execute(f"SELECT count(*) FROM {target}"))
    return (int(row[0]) if row else 0) + len(rows)


def _unreadable(path: Path, exc: duckdb.Error) -> InputError:
    """The reader gave up on the whole file (no record it could set aside). The cause met so
    far is mixed line endings (CRLF lines among LF ones, or a lone CR): name the first line
    whose ending differs from the header's."""
    with path.open("rb") as f:
        first = f.readline(MAX_LINE_BYTES)
        crlf = first.endswith(b"\r\n")
        for number, line in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES), b""), start=2):
            body = line[:-2] if line.endswith(b"\r\n") else line.rstrip(b"\n")
            if b"\r" in body or (line.endswith(b"\n") and line.endswith(b"\r\n") != crlf):
                return InputError(
                    "mixed line endings (CRLF and LF, or a lone CR) from here on; re-save the "
                    "file with one kind of line ending", path=path, line=number)
    lines = str(exc).splitlines()
    return InputError(f"unreadable as a delimited file: {lines[0] if lines else exc!r}",
                      path=path)


def _reason(kind: str, message: str) -> str:
    if kind in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
        return f"{message.strip()} (truncated or malformed row?)"
    if kind == "UNQUOTED VALUE" or kind == "UNTERMINATED QUOTE":
        return f"{message.strip()} (a stray or unclosed quote?)"
    return message.strip()


def parse_errors(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[int, str | None, str]]:
    """``(data record index, field, reason)`` of the records :func:`stage` left out."""
    try:
        return [
            (int(r), f, reason)
            for r, f, reason in con.execute(
                f"SELECT record, field, reason FROM {quote_ident(f'{table}_parse_errors')} "
                "ORDER BY record"
            ).fetchall()
        ]
    except duckdb.CatalogException:
        return []


def staged_records(rids: Sequence[int], skipped: Sequence[int]) -> list[int]:
    """Data record index of each staged rowid, given the sorted record indexes left out."""
    import numpy as np

    if not skipped:
        return [int(r) for r in rids]
    gaps = np.asarray(skipped, dtype=np.int64) - np.arange(len(skipped))
    r = np.asarray(rids, dtype=np.int64)
    return [int(x) for x in r + np.searchsorted(gaps, r, side="right")]


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
        f"SELECT rowid AS rid, {quote_literal(c.field)} AS field, {_one_line(c.reason)} "
        "AS reason "
        f"FROM {quote_ident(table)} WHERE {c.condition}"
        for c in checks
    ]
    query = (
        " UNION ALL ".join(parts)
        if parts
        else ("SELECT NULL::BIGINT AS rid, NULL::VARCHAR AS field, NULL::VARCHAR AS reason LIMIT 0")
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {quote_ident(bad)} AS {query}")
    return bad


def _one_line(reason: str) -> str:
    """A check's reason as one line whatever file text it quotes (a line break in a value
    is shown as ``\\n``), and never NULL (a reason built from a value that is missing)."""
    return (f"replace(replace(coalesce({reason}, 'refused'), chr(13), '\\r'), "
            "chr(10), '\\n')")


def rejections(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    bad_table: str,
    dialect: Dialect | None = CSV,
    limit: int = 1000,
    staged: str = "fg_stage",
) -> list[Rejection]:
    """The first ``limit`` rejections in file order (rows refused by a check and records that
    did not parse), with physical line numbers when the source is a delimited file
    (``dialect`` None: a JSON or folder source, no lines)."""
    rows = con.execute(
        f"SELECT rid, field, reason FROM {quote_ident(bad_table)} ORDER BY rid, field LIMIT ?",
        [limit],
    ).fetchall()
    if dialect is None:
        return [Rejection(line=None, reason=reason, field=field) for _, field, reason in rows]
    skipped = parse_errors(con, staged)
    records = staged_records([int(r[0]) for r in rows], [s[0] for s in skipped])
    found = sorted(
        [(rec, field, reason) for rec, (_, field, reason) in zip(records, rows, strict=True)]
        + skipped,
        key=lambda x: x[0],
    )[:limit]
    lines = physical_lines(path, [rec + dialect.header_lines for rec, _, _ in found], dialect)
    return [
        Rejection(line=lines.get(rec + dialect.header_lines), reason=reason, field=field)
        for rec, field, reason in found
    ]


def sql_literal(text: str) -> str:
    """A SQL string literal (for reasons built into check queries)."""
    return quote_literal(text)


def col(name: str, columns: Collection[str]) -> str:
    """The quoted column ``name`` when the file has it, else ``NULL`` (an absent column)."""
    return quote_ident(name) if name in columns else "NULL"


def _reader(lines: Iterable[str], dialect: Dialect) -> Any:
    """A csv.reader that splits records exactly as DuckDB was told to (and as long)."""
    csv.field_size_limit(MAX_LINE_BYTES)
    if dialect.quote:
        return csv.reader(lines, delimiter=dialect.delimiter, quotechar=dialect.quote)
    return csv.reader(lines, delimiter=dialect.delimiter, quoting=csv.QUOTE_NONE)
