"""``sound fetch``: download a study's recordings with the photo fetcher.

The same client, concurrency, per-host rate limit and retries as ``photos fetch``
(``fieldguide.photos.client``); each job is of kind ``sound``, so it asks for ``audio/*`` and
its body is checked by the one audio path (:func:`fieldguide.sound.keep.keep_recording`: it
decodes whole, within the duration, sample-rate and size limits) before it is written into
``STUDY/sounds``.

The ``sounds`` table is the record of what is done, as the photos table is for ``photos
fetch``: ``fetch_status`` is NULL (never tried), ``retry`` (a transient failure), ``failed``
(final, with its reason) or ``fetched``. Each recording's outcome is written the moment it
completes, in its own transaction (a recording is large, so one small transaction per
recording costs nothing next to its download): a run that is killed loses no finished
recording, and the rerun fetches only what is NULL or ``retry``. A recording renamed into
place just before the kill, but not yet recorded, is found on disk by the rerun, checked and
recorded without a request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from fieldguide.errors import InputError
from fieldguide.inputs.files import file_sha256
from fieldguide.photos.client import FetchOptions, Job, Outcome, fetch_many
from fieldguide.photos.files import Kept, prepare
from fieldguide.photos.study import Tally
from fieldguide.sound.audio import LIMITS, read_header
from fieldguide.sound.keep import check_recording, on_disk
from fieldguide.store import Study


@dataclass
class SoundFetchReport(Tally):
    """What a run did; ``already`` counts recordings whose files were in place (a killed
    run's last ones), recorded without a request."""

    def text(self) -> str:
        lines = [f"fetched {self.fetched:,} of {self.to_fetch:,} recording(s) "
                 f"({self.wire_bytes / 2**20:,.1f} MiB in {self.seconds:,.1f} s)"]
        if self.already:
            lines.append(f"already there: {self.already:,}")
        lines += [f"failed: {r}: {n:,}" for r, n in self.failed.most_common()]
        lines += [f"will retry: {r}: {n:,}" for r, n in self.retry.most_common()]
        return "\n".join(lines)


def sounds_folder(study: Study) -> Path:
    return study.root / "sounds"


def fetch_sounds(study: Study, options: FetchOptions | None = None,
                 seed: int | None = None) -> SoundFetchReport:
    """Fetch the study's recordings that have a URL and are not yet fetched, recording each
    outcome as it completes (see the module doc: a rerun after a kill resumes)."""
    options = options or FetchOptions()
    con = study.con
    if not con.execute("SELECT count(*) FROM sounds").fetchone()[0]:  # type: ignore[index]
        raise InputError("the study has no recordings (sound_url, or DwC-A Sound media)",
                         path=study.root)
    pending = con.execute("""
        SELECT sound_id, trim(url) FROM sounds
        WHERE nullif(trim(url), '') IS NOT NULL
          AND (fetch_status IS NULL OR fetch_status = 'retry')
        ORDER BY sound_id""").fetchall()
    report = SoundFetchReport(to_fetch=len(pending))
    root = sounds_folder(study)
    prepare(root)
    recorder = _Recorder(study, report, options.max_bytes)
    start = time.perf_counter()
    jobs = []
    for sound_id, url in pending:
        kept = _in_place(root, sound_id, options.max_bytes)
        if kept is not None:
            recorder.add(Outcome(sound_id, "there", kept=kept))
        else:
            jobs.append(Job(sound_id, url, kind="sound"))
    try:
        if jobs:
            asyncio.run(fetch_many(jobs, root, options, recorder.add, seed=seed))
    finally:
        report.seconds = time.perf_counter() - start
    return report


def _in_place(root: Path, sound_id: str, max_bytes: int) -> Kept | None:
    """A recording already kept under ``root`` (by a run killed before recording it), if it
    still passes the check; one that does not is removed, to be fetched again."""
    found = on_disk(root, sound_id)
    if found is None:
        return None
    try:
        check_recording(found.read_bytes(), max_bytes)
    except (InputError, OSError):
        found.unlink(missing_ok=True)
        return None
    return Kept(found, found.stat().st_size, file_sha256(found), 0, 0)


class _Recorder:
    """Counts each outcome into the report and writes it into the sounds table at once,
    with the kept file's format, sample rate and duration."""

    def __init__(self, study: Study, report: SoundFetchReport, max_bytes: int) -> None:
        self.study, self.report = study, report
        self.limits = dataclasses.replace(LIMITS, max_bytes=max_bytes)

    def add(self, o: Outcome) -> None:
        self.report.count(o)
        head = read_header(o.kept.path, self.limits) if o.kept else None
        table = pa.table({
            "sound_id": [o.photo_id],
            "status": ["fetched" if o.status == "there" else o.status],
            "reason": pa.array([o.reason], pa.string()),
            "path": pa.array([str(o.kept.path.resolve()) if o.kept else None], pa.string()),
            "file_bytes": pa.array([o.kept.file_bytes if o.kept else None], pa.int64()),
            "sha256": pa.array([o.kept.sha256 if o.kept else None], pa.string()),
            "format": pa.array([head.format if head else None], pa.string()),
            "duration_s": pa.array([head.seconds if head else None], pa.float64()),
            "sample_rate": pa.array([head.rate if head else None], pa.int32()),
            "at": pa.array([datetime.now() if o.kept else None], pa.timestamp("us")),
        })
        with self.study.transaction() as con:
            con.register("fg_sound_outcome", table)
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
                    FROM fg_sound_outcome r WHERE sounds.sound_id = r.sound_id
                """)
            finally:
                con.unregister("fg_sound_outcome")
