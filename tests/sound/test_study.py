"""Recordings in and out of a study: an iNaturalist-shaped export whose sound_urls a loopback
server serves (two good recordings, a text file named .wav, a truncated FLAC), ingested,
fetched with the photo fetcher and the audio check, identified from the study, and exported
as a Darwin Core Archive whose Multimedia extension lists the sounds."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fieldguide.store import Study
from tests.photos.server import PhotoServer
from tests.sound.conftest import RATE, bad_recordings, call, sf

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PhotoServer]:
    rng = np.random.default_rng(11)
    bodies = {}
    for name, kind in (("501.wav", "tone"), ("502.flac", "chirp")):
        sf.write(tmp_path / name, call(kind, 3.0, rng), RATE)
        bodies[f"sounds/{name}"] = (tmp_path / name).read_bytes()
    bad = bad_recordings(tmp_path / "bad")
    bodies["sounds/503.wav"] = bad["text named .wav"].read_bytes()
    bodies["sounds/504.flac"] = bad["truncated FLAC"].read_bytes()
    srv = PhotoServer(bodies)
    thread = threading.Thread(target=srv.httpd.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.httpd.shutdown()


def _run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}",
           "FIELDGUIDE_CACHE": str(tmp / "cache")}
    run = subprocess.run([sys.executable, "-m", "fieldguide.cli.main", *args],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    return run


def test_ingest_fetch_identify_export(tmp_path: Path, server: PhotoServer,
                                      mel_model: Path) -> None:
    export = tmp_path / "observations.csv"
    rows = [("1", "501.wav", "Tonus constans"), ("2", "502.flac", "Pipio ascendens"),
            ("3", "503.wav", "Tonus constans"), ("4", "504.flac", "Pipio ascendens")]
    with export.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "observed_on", "user_id", "scientific_name", "latitude", "longitude",
                    "license", "sound_url"])
        for oid, name, taxon in rows:
            w.writerow([oid, "2024-05-0" + oid, "7", taxon, "52.1", "5.1", "CC-BY",
                        f"{server.base}/ok/sounds/{name}"])
    study = tmp_path / "study"
    got = _run(tmp_path, "ingest", "inat", str(export), "--study", str(study))
    assert "sounds" in got.stdout
    fetched = _run(tmp_path, "sound", "fetch", "--study", str(study), "--rate", "0")
    assert "fetched 2 of 4 recording(s)" in fetched.stdout
    assert "not a recording libsndfile can read" in fetched.stdout
    assert "unreadable recording" in fetched.stdout
    kept = sorted(p.suffix for p in (study / "sounds").rglob("*") if p.is_file()
                  and ".tmp" not in p.parts)
    assert kept == [".flac", ".wav"]  # nothing stored of the refused two
    with Study(study, create=False, read_only=True) as s:
        table = s.con.execute("SELECT observation_id, fetch_status, sample_rate, duration_s "
                              "FROM sounds ORDER BY observation_id").fetchall()
    assert [r[1] for r in table] == ["fetched", "fetched", "failed", "failed"]
    assert table[0][2] == RATE and table[0][3] == pytest.approx(3.0)

    out = tmp_path / "out" / "ids.csv"
    _run(tmp_path, "identify", str(mel_model), str(study), "-o", str(out), "--threshold", "0.6")
    windows = list(csv.DictReader(out.open()))
    by_obs: dict[str, list[dict[str, str]]] = {}
    for r in windows:
        by_obs.setdefault(r["observation_id"], []).append(r)
    assert {r["taxon_1"] for r in by_obs["1"]} == {"tone"}
    assert {r["taxon_1"] for r in by_obs["2"]} == {"chirp"}
    assert len(by_obs["3"]) == 1 and "no file path" in by_obs["3"][0]["error"]

    archive = tmp_path / "out" / "dwca.zip"
    _run(tmp_path, "export", "dwc", str(out), "--study", str(study), "-o", str(archive))
    with zipfile.ZipFile(archive) as z:
        media = list(csv.DictReader(io.StringIO(z.read("multimedia.txt").decode()),
                                    delimiter="\t"))
        occurrences = list(csv.DictReader(io.StringIO(z.read("occurrence.txt").decode()),
                                          delimiter="\t"))
        assert "Multimedia" in z.read("meta.xml").decode()
    assert sorted((m["type"], m["format"]) for m in media) == [
        ("Sound", "audio/flac"), ("Sound", "audio/flac"), ("Sound", "audio/wav"),
        ("Sound", "audio/wav")]
    assert {m["references"] for m in media} == {f"https://www.inaturalist.org/sounds/{n}"
                                                for n in ("501", "502", "503", "504")}
    decided = {o["occurrenceID"]: o["scientificName"] for o in occurrences}
    assert decided["1"] == "tone" and decided["2"] == "chirp" and decided["3"] == ""
    assert all(o["associatedMedia"].startswith(server.base) for o in occurrences)
