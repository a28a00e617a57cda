"""Sounds in a Darwin Core Archive's Multimedia extension (``type = Sound``, or an audio
``format``) become the observation's recordings; photos stay photos."""

from __future__ import annotations

import shutil
from pathlib import Path

from fieldguide.ingest import ingest_dwca
from fieldguide.store import Study


def test_dwca_sound_rows_become_recordings(tmp_path: Path, shared_data: Path) -> None:
    archive = tmp_path / "archive"
    shutil.copytree(shared_data / "observations" / "gbif_dwca_amblyomma_sample", archive)
    media = archive / "multimedia.txt"
    lines = media.read_text(encoding="utf-8").splitlines()
    first = lines[1].split("\t")
    sound = [first[0], "Sound", "audio/mpeg", "https://static.inaturalist.org/sounds/123.mp3",
             "https://www.inaturalist.org/sounds/123", *first[5:]]
    by_format = [first[0], "", "audio/x-wav", "https://example.org/rec/9.wav", "", *first[5:]]
    media.write_text("\n".join([*lines, "\t".join(sound), "\t".join(by_format)]) + "\n",
                     encoding="utf-8")
    with Study(tmp_path / "study") as study:
        report = ingest_dwca(study, archive)
        assert report.counts["photos"] == 1362 and report.counts["sounds"] == 2
        rows = study.con.execute("SELECT sound_id, observation_id, position, url, format "
                                 "FROM sounds ORDER BY sound_id").fetchall()
    assert rows[0][:2] == ("123", first[0]) and rows[0][4] == "audio/mpeg"
    assert rows[1][0] == "https://example.org/rec/9.wav" and rows[1][4] == "audio/x-wav"
    assert rows[0][2] > 1  # after the observation's photo
