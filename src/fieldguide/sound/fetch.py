"""``sound fetch``: download a study's recordings with the photo fetcher.

The same client, concurrency, per-host rate limit and retries as ``photos fetch``
(``fieldguide.photos.client``); each job is of kind ``sound``, so its body is checked by the
one audio path (:func:`fieldguide.sound.keep.keep_recording`: it decodes whole, within the
duration, sample-rate and size limits) before it is written into ``STUDY/sounds``. The
``sounds`` table records each outcome as ``photos`` does (``fetch_status`` NULL, ``retry``,
``failed`` or ``fetched``), so a rerun fetches only what is missing or failed transiently.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from fieldguide.errors import InputError
from fieldguide.photos.client import FetchOptions, Job, Outcome, fetch_many
from fieldguide.photos.files import prepare
from fieldguide.sound.audio import read_header
from fieldguide.store import Study


@dataclass
class SoundFetchReport:
    to_fetch: int = 0
    fetched: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    retry: Counter[str] = field(default_factory=Counter)
    wire_bytes: int = 0
    seconds: float = 0.0

    def text(self) -> str:
        lines = [f"fetched {self.fetched:,} of {self.to_fetch:,} recording(s) "
                 f"({self.wire_bytes / 2**20:,.1f} MiB in {self.seconds:,.1f} s)"]
        lines += [f"failed: {r}: {n:,}" for r, n in self.failed.most_common()]
        lines += [f"will retry: {r}: {n:,}" for r, n in self.retry.most_common()]
        return "\n".join(lines)


def sounds_folder(study: Study) -> Path:
    return study.root / "sounds"


def fetch_sounds(study: Study, options: FetchOptions | None = None,
                 seed: int | None = None) -> SoundFetchReport:
    """Fetch the study's recordings that have a URL and are not yet fetched."""
    options = options or FetchOptions()
    con = study.con
    jobs = [Job(sid, url, kind="sound") for sid, url in con.execute("""
        SELECT sound_id, trim(url) FROM sounds
        WHERE nullif(trim(url), '') IS NOT NULL
          AND (fetch_status IS NULL OR fetch_status = 'retry')
        ORDER BY sound_id""").fetchall()]
    if not con.execute("SELECT count(*) FROM sounds").fetchone()[0]:  # type: ignore[index]
        raise InputError("the study has no recordings (sound_url, or DwC-A Sound media)",
                         path=study.root)
    report = SoundFetchReport(to_fetch=len(jobs))
    root = sounds_folder(study)
    prepare(root)
    outcomes: list[Outcome] = []
    start = time.perf_counter()
    if jobs:
        asyncio.run(fetch_many(jobs, root, options, outcomes.append, seed=seed))
    report.seconds = time.perf_counter() - start
    for o in outcomes:
        report.wire_bytes += o.wire_bytes
        if o.status in ("fetched", "there"):
            report.fetched += 1
        elif o.status == "retry":
            report.retry[o.reason or "?"] += 1
        else:
            report.failed[o.reason or "?"] += 1
    _record(study, outcomes)
    return report


def _record(study: Study, outcomes: list[Outcome]) -> None:
    """Each outcome into the sounds table, with the kept file's format, rate and duration."""
    if not outcomes:
        return
    heads = [read_header(o.kept.path) if o.kept else None for o in outcomes]
    now = datetime.now()
    table = pa.table({
        "sound_id": [o.photo_id for o in outcomes],
        "status": ["fetched" if o.status == "there" else o.status for o in outcomes],
        "reason": [o.reason for o in outcomes],
        "path": [str(o.kept.path.resolve()) if o.kept else None for o in outcomes],
        "file_bytes": pa.array([o.kept.file_bytes if o.kept else None for o in outcomes],
                               pa.int64()),
        "sha256": [o.kept.sha256 if o.kept else None for o in outcomes],
        "format": [h.format if h else None for h in heads],
        "duration_s": pa.array([h.seconds if h else None for h in heads], pa.float64()),
        "sample_rate": pa.array([h.rate if h else None for h in heads], pa.int32()),
        "at": pa.array([now if o.kept else None for o in outcomes], pa.timestamp("us")),
    })
    with study.transaction() as con:
        con.register("fg_sound_outcomes", table)
        try:
            con.execute("""
                UPDATE sounds SET fetch_status = r.status, fetch_reason = r.reason,
                    path = coalesce(r.path, sounds.path),
                    file_bytes = coalesce(r.file_bytes, sounds.file_bytes),
                    sha256 = coalesce(r.sha256, sounds.sha256),
                    format = coalesce(r.format, sounds.format),
                    duration_s = coalesce(r.duration_s, sounds.duration_s),
                    sample_rate = coalesce(r.sample_rate, sounds.sample_rate),
                    fetched_at = coalesce(r.at, sounds.fetched_at)
                FROM fg_sound_outcomes r WHERE sounds.sound_id = r.sound_id
            """)
        finally:
            con.unregister("fg_sound_outcomes")
