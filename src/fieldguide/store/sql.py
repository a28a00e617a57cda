"""Small helpers over DuckDB results (DuckDB 2 keeps a half-read result open, blocking the
connection, so single-row reads must drain the result)."""

from __future__ import annotations

from typing import Any

import duckdb


def first_row(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    """The first row of an executed query (or None), with the result fully consumed."""
    rows = result.fetchall()
    return rows[0] if rows else None


def scalar(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> Any:
    """The single value of a one-row, one-column query (None when it returns no row)."""
    row = first_row(con.execute(query, params or []))
    return None if row is None else row[0]


def quote_ident(name: str) -> str:
    """``name`` as a SQL identifier: double-quoted, inner quotes doubled, so a column name from
    a file header (``a" ; COPY ...``) stays one identifier. NUL is refused (DuckDB cuts there)."""
    if "\x00" in name:
        raise ValueError("NUL byte in an identifier")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a SQL string literal, for the few places DuckDB takes no parameter (a
    ``COPY ... TO`` path, a table function's option). Values otherwise go as ``?``."""
    if "\x00" in text:
        raise ValueError("NUL byte in a literal")
    return "'" + text.replace("'", "''") + "'"
