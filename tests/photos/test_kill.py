"""SIGKILL ``photos fetch`` mid-run, run it again: each photo fetched once, no half file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fieldguide.store import Study
from tests.photos.conftest import BIG, add_photos, files_under, photo_rows
from tests.photos.server import PhotoServer


def _fetch(study: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fieldguide.cli.main", "photos", "fetch", "-s", str(study),
         "--rate", "0", "--concurrency", "4", "--timeout", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_killed_fetch_resumes_and_fetches_every_photo_once(
        tmp_path: Path, server: PhotoServer, flowers: dict[str, bytes]) -> None:
    """The first ten photos come at once; the others hang until the run is killed, then
    their requests are dropped unanswered. A photo counts as fetched when the server sent its
    whole body: the re-run must fetch each of the thirty once, and not ask again for any of
    the ten already on disk (whether or not the killed run recorded them)."""
    names = [n for n in flowers if n != BIG][:40]
    urls = {f"a{i:02d}" if i < 10 else f"b{i:02d}":
            server.url("ok" if i < 10 else "hold", n) for i, n in enumerate(names)}
    study = tmp_path / "study"
    with Study(study) as s:
        add_photos(s, dict(urls))
    server.gate.clear()
    run = _fetch(study)
    deadline = time.monotonic() + 60
    while len([p for p in files_under(study / "photos") if ".tmp" not in p.parts]) < 10:
        assert run.poll() is None, run.communicate()[0]
        assert time.monotonic() < deadline, "the first run never fetched its ten photos"
        time.sleep(0.05)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    server.discard = True
    server.gate.set()
    time.sleep(0.3)  # the held requests give up without sending a byte
    server.discard = False

    rerun = _fetch(study)
    out = rerun.communicate(timeout=120)[0]
    assert rerun.returncode == 0, out
    assert "already there" in out and "fetched" in out

    for url in urls.values():
        path = url.split(server.base)[1]
        assert server.served[path] == 1, (path, server.served[path])
        if path.startswith("/ok/"):
            assert server.hits[path] == 1
    kept = files_under(study / "photos")
    assert len(kept) == 40 and not any(".part" in p.name for p in kept)
    with Study(study) as s:
        rows = photo_rows(s)
    assert {r["fetch_status"] for r in rows.values()} == {"fetched"}
    for photo_id, url in urls.items():
        assert Path(str(rows[photo_id]["path"])).read_bytes() == flowers[url.rsplit("/", 1)[1]]
