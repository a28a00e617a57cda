"""``photos fetch`` against a study: which photos to fetch, and each outcome written back.

The photos table is the record of what is done: ``fetch_status`` is ``fetched``, ``retry`` (a
transient failure, tried again by the next run) or ``failed`` (final, with its reason), and
NULL for a photo never tried. A re-run therefore fetches only photos that are NULL or
``retry``. Outcomes are written in batches; a photo whose file was renamed into place just
before a kill is found on disk by the next run and recorded without a request.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import fieldguide.photos.files as files
from fieldguide.errors import InputError
from fieldguide.photos.client import FetchOptions, Job, Outcome, fetch_many
from fieldguide.photos.urls import SIZES, with_size
from fieldguide.store import Study
from fieldguide.store.sql import scalar

Progress = Callable[[int, int, int], None]  # (photos done, photos to do, bytes so far)
PAGE = 10_000
FLUSH_ROWS = 1_000
FLUSH_SECONDS = 2.0
_SCOPE = "fg_fetch_scope"
_QUEUE = "fg_fetch_queue"


@dataclass
class Tally:
    """The outcomes of a fetch run, counted as they arrive (photos and recordings alike)."""

    to_fetch: int = 0
    fetched: int = 0
    already: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    retry: Counter[str] = field(default_factory=Counter)
    wire_bytes: int = 0
    seconds: float = 0.0

    def count(self, outcome: Outcome) -> None:
        self.wire_bytes += outcome.wire_bytes
        if outcome.status == "fetched":
            self.fetched += 1
        elif outcome.status == "there":
            self.already += 1
        elif outcome.status == "retry":
            self.retry[outcome.reason or "?"] += 1
        else:
            self.failed[outcome.reason or "?"] += 1


@dataclass
class FetchReport(Tally):
    """What a run did. ``already`` counts photos whose files were in place before it."""

    photos: int = 0
    with_url: int = 0
    licences: dict[str, int] = field(default_factory=dict)
    verified: int = 0
    damaged: int = 0

    def table(self) -> str:
        """The final table: fetched, already there, failed by reason; then the licences."""
        rows = [("fetched", self.fetched), ("already there", self.already)]
        rows += [(f"failed: {r}", n) for r, n in self.failed.most_common()]
        rows += [(f"will retry: {r}", n) for r, n in self.retry.most_common()]
        if self.photos > self.with_url:
            rows.append(("no URL", self.photos - self.with_url))
        width = max(len(r) for r, _ in rows)
        lines = [f"{'outcome':<{width}}  photos", f"{'-' * width}  ------"]
        lines += [f"{r:<{width}}  {n:>6,}" for r, n in rows]
        if self.verified or self.damaged:
            lines.append(f"verified {self.verified:,} file(s); {self.damaged:,} missing or "
                         "changed (fetched again)")
        rate = self.fetched / self.seconds if self.seconds else 0.0
        lines.append(f"{self.wire_bytes / 2**20:,.1f} MiB in {self.seconds:,.1f} s "
                     f"({rate:,.1f} photos/s)")
        lines.append("licences: " + (", ".join(f"{k} {v:,}" for k, v in self.licences.items())
                                     or "none recorded"))
        return "\n".join(lines)


def photos_folder(study: Study) -> Path:
    return study.root / "photos"


def fetch_study(study: Study, *, size: str | None = "medium", options: FetchOptions | None = None,
                dataset: Path | None = None, verify: bool = False,
                progress: Progress | None = None, seed: int | None = None) -> FetchReport:
    """Fetch the study's photos (or those of a dataset manifest) that are not yet on disk."""
    options = options or FetchOptions()
    if size is not None and size not in SIZES:
        raise InputError(f"unknown size {size!r}; use one of {', '.join(SIZES)}", field="size")
    con = study.con
    _scope(study, dataset)
    report = FetchReport()
    report.photos = int(scalar(con, f"SELECT count(*) FROM photos JOIN {_SCOPE} USING (photo_id)"))
    report.with_url = int(scalar(con, f"SELECT count(*) FROM photos JOIN {_SCOPE} "
                                      "USING (photo_id) WHERE nullif(trim(url), '') IS NOT NULL"))
    if report.photos == 0:
        raise InputError("no photos to fetch (the study, or the dataset, has none)",
                         path=dataset or study.root)
    if report.with_url == 0:
        raise InputError(f"none of the {report.photos:,} photo(s) has a URL: nothing to fetch",
                         path=dataset or study.root)
    root = photos_folder(study).resolve()  # once: each kept path is recorded absolute
    files.prepare(root)
    report.licences = dict(con.execute(f"""
        SELECT coalesce(p.license, o.license, '(none)') AS licence, count(*) FROM photos p
        JOIN {_SCOPE} USING (photo_id) LEFT JOIN observations o USING (observation_id)
        WHERE nullif(trim(p.url), '') IS NOT NULL GROUP BY licence ORDER BY 2 DESC, 1
    """).fetchall())
    if verify:
        _verify(study, report)
    report.already = int(scalar(con, f"SELECT count(*) FROM photos JOIN {_SCOPE} "
                                     "USING (photo_id) WHERE fetch_status = 'fetched'"))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {_QUEUE} AS
        SELECT row_number() OVER (ORDER BY photo_id) AS rn, photo_id, trim(url) AS url
        FROM photos JOIN {_SCOPE} USING (photo_id)
        WHERE nullif(trim(url), '') IS NOT NULL
          AND (fetch_status IS NULL OR fetch_status = 'retry')
    """)
    report.to_fetch = int(scalar(con, f"SELECT count(*) FROM {_QUEUE}"))
    writer = _Writer(study, report, progress)
    start = time.perf_counter()
    try:
        if report.to_fetch:
            asyncio.run(fetch_many(_jobs(study, size), root, options, writer.add, seed=seed))
    finally:
        writer.close()
        report.seconds = time.perf_counter() - start
        con.execute(f"DROP TABLE IF EXISTS {_QUEUE}")
        con.execute(f"DROP TABLE IF EXISTS {_SCOPE}")
    return report


def _scope(study: Study, dataset: Path | None) -> None:
    """Temp table of the photo ids in scope: all, or those a dataset's manifest lists."""
    con = study.con
    if dataset is None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_SCOPE} AS SELECT photo_id FROM photos")
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    manifest = dataset / "manifest.parquet" if dataset.is_dir() else dataset
    if not manifest.is_file():
        raise InputError("not a dataset folder (no manifest.parquet)", path=dataset)
    try:
        ids = pq.read_table(manifest, columns=["photo_id"])
    except (OSError, KeyError, pa.ArrowInvalid) as exc:
        raise InputError(f"unreadable manifest: {exc}", path=manifest) from None
    con.register("fg_manifest_ids", ids)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_SCOPE} AS "
                    "SELECT DISTINCT CAST(photo_id AS VARCHAR) AS photo_id FROM fg_manifest_ids")
    finally:
        con.unregister("fg_manifest_ids")


def _jobs(study: Study, size: str | None) -> Iterator[Job]:
    """The queue, a page at a time (memory stays flat at 25M photos)."""
    done = 0
    while True:
        rows = study.con.execute(f"SELECT photo_id, url FROM {_QUEUE} WHERE rn > ? AND rn <= ? "
                                 "ORDER BY rn", [done, done + PAGE]).fetchall()
        if not rows:
            return
        done += PAGE
        for photo_id, url in rows:
            yield Job(photo_id, with_size(url, size))


def _verify(study: Study, report: FetchReport) -> None:
    """Re-hash every fetched file; a missing or changed one goes back in the queue."""
    rows = study.con.execute(f"SELECT photo_id, path, sha256 FROM photos JOIN {_SCOPE} "
                             "USING (photo_id) WHERE fetch_status = 'fetched'").fetchall()
    with ThreadPoolExecutor(4) as pool:
        hashes = list(pool.map(
            lambda r: files.sha256_if_present(Path(r[1])) if r[1] else None, rows))
    bad = []
    for (photo_id, path, expected), got in zip(rows, hashes, strict=True):
        if got is not None and got == expected:
            report.verified += 1
            continue
        reason = "file missing (verify)" if got is None else "file changed (verify)"
        if path:
            Path(path).unlink(missing_ok=True)
        bad.append((photo_id, reason))
    report.damaged = len(bad)
    if bad:
        with study.transaction() as con:
            con.executemany("UPDATE photos SET fetch_status = 'retry', fetch_reason = ?, "
                            "path = NULL, sha256 = NULL, file_bytes = NULL WHERE photo_id = ?",
                            [(reason, photo_id) for photo_id, reason in bad])


class _Writer:
    """Buffers outcomes and writes them to the photos table in batches, each in a
    transaction (a kill loses at most the batches not yet committed, and those files are
    found on disk by the next run).

    The writes run on a thread of their own, over their own connection, one batch at a
    time: an UPDATE joins the whole photos table (0.7 s a batch at 5M photos), which on the
    event loop would stall every download. While one batch is written the next one grows,
    so the batches follow the table's size instead of the downloads waiting on them."""

    def __init__(self, study: Study, report: FetchReport, progress: Progress | None) -> None:
        self.report, self.progress = report, progress
        self.rows: list[Outcome] = []
        self.done = 0
        self.last = time.monotonic()
        self.con = study.con.cursor()
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="fetch-record")
        self.pending: Future[None] | None = None

    def add(self, outcome: Outcome) -> None:
        r = self.report
        r.count(outcome)
        self.rows.append(outcome)
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, r.to_fetch, r.wire_bytes)
        due = len(self.rows) >= FLUSH_ROWS or time.monotonic() - self.last > FLUSH_SECONDS
        if due and (self.pending is None or self.pending.done()):
            self.flush()

    def flush(self) -> None:
        """Hand the buffered rows to the writing thread (after the batch before them)."""
        self.last = time.monotonic()
        if self.pending is not None:
            self.pending.result()  # its error, if any, ends the run here
            self.pending = None
        if self.rows:
            self.pending = self.thread.submit(self._write, self.rows)
            self.rows = []

    def close(self) -> None:
        """Write what is left and wait for it."""
        try:
            self.flush()
            if self.pending is not None:
                self.pending.result()
        finally:
            self.thread.shutdown()
            self.con.close()

    def _write(self, rows: list[Outcome]) -> None:
        # Columns as list parameters, unnested in SQL: no SQL text from the data, and no
        # Arrow scan (whose first use imports pandas, 2 s at start-up on a busy machine).
        now = datetime.now()
        kept = [o.kept for o in rows]
        columns = [
            [o.photo_id for o in rows],
            ["fetched" if o.status == "there" else o.status for o in rows],
            [o.reason for o in rows],
            [str(k.path) if k else None for k in kept],
            [k.file_bytes if k else None for k in kept],
            [k.sha256 if k else None for k in kept],
            [k.width if k else None for k in kept],
            [k.height if k else None for k in kept],
            [now if k else None for k in kept],
        ]
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("""
                UPDATE photos SET fetch_status = r.status, fetch_reason = r.reason,
                    path = coalesce(r.path, photos.path),
                    file_bytes = coalesce(r.file_bytes, photos.file_bytes),
                    sha256 = coalesce(r.sha256, photos.sha256),
                    width = coalesce(r.width, photos.width),
                    height = coalesce(r.height, photos.height),
                    fetched_at = coalesce(r.at, photos.fetched_at)
                FROM (SELECT unnest(?::VARCHAR[]) AS photo_id, unnest(?::VARCHAR[]) AS status,
                             unnest(?::VARCHAR[]) AS reason, unnest(?::VARCHAR[]) AS path,
                             unnest(?::BIGINT[]) AS file_bytes, unnest(?::VARCHAR[]) AS sha256,
                             unnest(?::INTEGER[]) AS width, unnest(?::INTEGER[]) AS height,
                             unnest(?::TIMESTAMP[]) AS at) r
                WHERE photos.photo_id = r.photo_id
            """, columns)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
