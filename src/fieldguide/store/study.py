"""A study is a folder: an embedded DuckDB database plus the reports and exports made from it.

All writes go through :meth:`Study.transaction`, so an import that fails half-way leaves the
database exactly as it was.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from fieldguide.errors import InputError
from fieldguide.inputs.files import atomic_path, file_sha256
from fieldguide.store.schema import MIGRATIONS, SCHEMA_VERSION, TABLES
from fieldguide.store.sql import first_row, quote_ident, quote_literal

# pyarrow only for the annotations: DuckDB imports it when a table is first read as Arrow,
# and a command that never does (e.g. fetching photos) is spared its 50 ms at start-up.
if TYPE_CHECKING:
    import pyarrow as pa

DB_NAME = "fieldguide.duckdb"


class Study:
    """An open study workspace. Use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        root: str | Path,
        *,
        create: bool = True,
        read_only: bool = False,
        wait: float = 0.0,
    ) -> None:
        self.root = Path(root)
        self.read_only = read_only
        db = self.root / DB_NAME
        if self.root.exists() and not self.root.is_dir():
            raise InputError("is a file; a study is a folder (choose another -s)", path=self.root)
        if db.exists() and not db.is_file():
            raise InputError("is not a database file", path=db)
        if not db.exists():
            if not create:
                raise InputError("no study here (run `fieldguide init` first)", path=self.root)
            self.root.mkdir(parents=True, exist_ok=True)
        self.con = _connect(db, read_only, wait)
        if not read_only:
            try:
                self._migrate()
            except BaseException:
                self.con.close()
                raise

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    @property
    def reports_dir(self) -> Path:
        path = self.root / "reports"
        path.mkdir(exist_ok=True)
        return path

    def _migrate(self) -> None:
        with self.transaction():
            for name, columns in TABLES.items():
                self.con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({columns})")
            found = first_row(
                self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'")
            )
            if found is None:
                self.con.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
                )
            elif int(found[0]) > SCHEMA_VERSION:
                raise InputError(
                    f"study schema v{found[0]} is newer than this fieldguide (v{SCHEMA_VERSION})",
                    path=self.root,
                )
            elif int(found[0]) < SCHEMA_VERSION:
                for version in range(int(found[0]) + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS.get(version, ()):
                        self.con.execute(statement)
                self.con.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)]
                )

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All or nothing: commit on success, roll back on any exception."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def new_import(
        self,
        kind: str,
        path: str | Path,
        *,
        read: int,
        kept: int,
        rejected: int,
        report: dict[str, Any] | None = None,
    ) -> int:
        """Record one ingestion (call inside the import's transaction) and return its id."""
        row = first_row(self.con.execute("SELECT coalesce(max(import_id), 0) + 1 FROM imports"))
        assert row is not None
        import_id = int(row[0])
        self.con.execute(
            "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                import_id,
                kind,
                str(path),
                source_digest(path),
                datetime.now(),
                read,
                kept,
                rejected,
                json.dumps(report or {}),
            ],
        )
        return import_id

    def was_imported(self, kind: str, path: str | Path) -> bool:
        """True when this exact file content was ingested before (so a rerun can skip it)."""
        digest = source_digest(path)
        if digest is None:
            return False
        row = first_row(
            self.con.execute(
                "SELECT count(*) FROM imports WHERE kind = ? AND sha256 = ?", [kind, digest]
            )
        )
        return row is not None and row[0] > 0

    def next_taxon_id(self) -> int:
        row = first_row(self.con.execute("SELECT coalesce(max(taxon_id), 0) + 1 FROM taxa"))
        assert row is not None
        return int(row[0])

    def table(self, name: str) -> pa.Table:
        """A whole table as Arrow (the hand-off format between stages)."""
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
        return self.con.sql(f"SELECT * FROM {quote_ident(name)}").to_arrow_table()

    def counts(self) -> dict[str, int]:
        out = {}
        for name in TABLES:
            row = first_row(self.con.execute(f"SELECT count(*) FROM {quote_ident(name)}"))
            out[name] = int(row[0]) if row else 0
        return out

    def export_parquet(self, name: str, path: str | Path) -> Path:
        """Write table ``name`` to a Parquet file, atomically (a temporary file, then rename)."""
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}")
        with atomic_path(path) as tmp:
            self.con.execute(
                f"COPY {quote_ident(name)} TO {quote_literal(str(tmp))} (FORMAT parquet)"
            )
        return Path(path)

    def import_parquet(self, name: str, path: str | Path) -> int:
        """Append a Parquet file with the table's columns (by name) in one transaction."""
        from fieldguide.inputs import nonempty_file

        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}")
        source = nonempty_file(path, what="Parquet file")
        wanted = [d[0] for d in self.con.execute(f"DESCRIBE {quote_ident(name)}").fetchall()]
        try:
            have = [
                d[0]
                for d in self.con.execute(
                    "DESCRIBE SELECT * FROM read_parquet(?)", [str(source)]
                ).fetchall()
            ]
        except duckdb.Error as exc:
            raise InputError(f"not a readable Parquet file: {_first_line(exc)}",
                             path=source) from None
        missing = [c for c in wanted if c not in have]
        if missing:
            raise InputError(f"missing column(s) {', '.join(missing)}", path=source)
        columns = ", ".join(quote_ident(c) for c in wanted)
        with self.transaction():
            before = self.counts()[name]
            try:
                self.con.execute(
                    f"INSERT INTO {quote_ident(name)} BY NAME SELECT {columns} "
                    "FROM read_parquet(?)",
                    [str(source)],
                )
            except duckdb.Error as exc:
                raise InputError(f"cannot append to {name}: {_first_line(exc)}",
                                 path=source) from None
            return self.counts()[name] - before


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _connect(db: Path, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
    """Connect, turning DuckDB's lock and format errors into a clear InputError. When another
    process holds the study, retry for up to ``wait`` seconds before giving up."""
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        try:
            return duckdb.connect(str(db), read_only=read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" not in text.lower():
                if "not a valid DuckDB database" in text:
                    raise InputError(
                        "not a DuckDB database (a damaged study, or another file of that name)",
                        path=db,
                    ) from None
                raise InputError(f"cannot open the study: {_first_line(exc)}", path=db) from None
            if time.monotonic() >= deadline:
                pid = re.search(r"PID (\d+)", text)
                raise InputError(
                    "study is in use by another fieldguide process"
                    + (f" (pid {pid.group(1)})" if pid else "")
                    + "; wait for it to finish, or pass --wait SECONDS",
                    path=db.parent,
                ) from None
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0.01)))
        except duckdb.Error as exc:
            raise InputError(f"cannot open the study: {_first_line(exc)}", path=db) from None


def source_digest(path: str | Path) -> str | None:
    """Content hash of a file, or of a folder's listing (names, sizes, times), so a re-ingest
    of the same data is spotted. None when the path does not exist. Remembered per
    (path, size, mtime): an import asks twice, and big exports take a while to hash."""
    p = Path(path)
    if not p.exists():
        return None
    stat = p.stat()
    if not (p.is_dir() or p.is_file()):
        return None  # a FIFO or a device: never read here (the ingester refuses it)
    return _digest(str(p.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    p = Path(path)
    if not p.is_dir():
        return file_sha256(p)
    h = hashlib.sha256()
    for child in sorted(p.rglob("*")):
        if child.is_file():
            stat = child.stat()
            h.update(f"{child.relative_to(p).as_posix()}\0{stat.st_size}\0"
                     f"{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()


