"""`sound fetch` resumes after a kill: each recording's outcome is written as it completes,
so a rerun asks the (loopback) server only for what it does not have; a recording put in
place just before a kill is found on disk and recorded without a request; every request
asks for audio."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fieldguide.ingest.inat_csv import ingest_inat_csv
from fieldguide.photos.client import FetchOptions
from fieldguide.sound.fetch import fetch_sounds
from fieldguide.sound.keep import keep_recording
from fieldguide.store import Study
from tests.photos.server import PhotoServer
from tests.sound.conftest import RATE, call, sf

REPO = Path(__file__).resolve().parents[2]
IDS = ("601", "602", "603", "604", "605", "606")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PhotoServer]:
    rng = np.random.default_rng(3)
    bodies = {}
    for i, sid in enumerate(IDS):
        path = tmp_path / f"{sid}.flac"
        sf.write(path, call(("tone", "chirp", "trill")[i % 3], 2.0, rng), RATE)
        bodies[f"{sid}.flac"] = path.read_bytes()
    srv = PhotoServer(bodies)
    thread = threading.Thread(target=srv.httpd.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.gate.set()
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _study(tmp: Path, urls: dict[str, str]) -> Path:
    """A study from an iNaturalist-shaped export, one recording per observation."""
    export = tmp / "observations.csv"
    with export.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "observed_on", "user_id", "scientific_name", "latitude", "longitude",
                    "sound_url"])
        for sid, url in urls.items():
            w.writerow([sid, "2024-05-01", "7", "Tonus constans", "52.1", "5.1", url])
    with Study(tmp / "study") as s:
        ingest_inat_csv(s, export)
    return tmp / "study"


def _status(study: Path) -> dict[str, str | None]:
    with Study(study, create=False, read_only=True) as s:
        rows = s.con.execute("SELECT observation_id, fetch_status FROM sounds").fetchall()
    return dict(rows)


def test_a_killed_fetch_resumes_without_fetching_again(tmp_path: Path,
                                                       server: PhotoServer) -> None:
    # The first three answer at once; the fourth holds the (single) worker until the kill.
    urls = {sid: server.url("ok" if i < 3 else "hold", f"{sid}.flac")
            for i, sid in enumerate(IDS)}
    study = _study(tmp_path, urls)
    server.gate.clear()
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    run = subprocess.Popen([sys.executable, "-m", "fieldguide.cli.main", "sound", "fetch",
                            "--study", str(study), "--rate", "0", "--concurrency", "1"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    held = f"/hold/{IDS[3]}.flac"
    deadline = time.monotonic() + 120
    while not server.hits[held] and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.hits[held] == 1, run.communicate()
    # One worker: it asked for the fourth only after the third's outcome was committed.
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert _status(study) == {**dict.fromkeys(IDS[:3], "fetched"), **dict.fromkeys(IDS[3:])}
    server.discard = True  # the held request of the killed run answers nothing
    server.gate.set()
    time.sleep(0.3)
    server.discard = False

    before = sum(server.hits.values())
    with Study(study, create=False) as s:
        report = fetch_sounds(s, FetchOptions(rate=0, concurrency=2))
    assert (report.to_fetch, report.fetched, report.already) == (3, 3, 0), report.text()
    asked = sum(server.hits.values()) - before
    assert asked == 3  # only the three it did not have
    assert all(server.hits[f"/ok/{sid}.flac"] == 1 for sid in IDS[:3])
    assert _status(study) == dict.fromkeys(IDS, "fetched")
    assert server.accepts == {"audio/*"}

    with Study(study, create=False) as s:  # a third run has nothing to do
        assert fetch_sounds(s, FetchOptions(rate=0)).to_fetch == 0
    assert sum(server.hits.values()) - before == 3


def test_a_recording_in_place_but_not_recorded_is_not_fetched_again(
        tmp_path: Path, server: PhotoServer) -> None:
    urls = {sid: server.url("ok", f"{sid}.flac") for sid in IDS[:2]}
    study = _study(tmp_path, urls)
    # As a run killed between the rename and the record leaves it: the file, no status
    # (an iNaturalist export's recording is <observation id>-sound).
    root = study / "sounds"
    keep_recording(server.photos[f"{IDS[0]}.flac"], f"{IDS[0]}-sound", root, 2**20)
    broken = keep_recording(server.photos[f"{IDS[1]}.flac"], f"{IDS[1]}-sound", root,
                            2**20).path
    broken.write_bytes(broken.read_bytes()[:200])  # damaged: fetched again
    with Study(study, create=False) as s:
        report = fetch_sounds(s, FetchOptions(rate=0))
    assert (report.fetched, report.already) == (1, 1), report.text()
    assert server.hits == {f"/ok/{IDS[1]}.flac": 1}
    assert _status(study) == dict.fromkeys(IDS[:2], "fetched")
    with Study(study, create=False, read_only=True) as s:
        rows = s.con.execute("SELECT sha256, sample_rate FROM sounds").fetchall()
    assert all(sha and rate == RATE for sha, rate in rows)
