"""A study to review: coloured photos in a labelled folder (some red ones filed under
"blue", so reverse search for red has candidates), the tiny colour model, an index of the
study built with it, and a reviewers file; and for the file-read queues, a manifest with
flagged photos and an identify output. Shared by the review tests (API, page)."""

from __future__ import annotations

import csv
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.search.conftest import COLOURS, write_tiny_model

ALICE, BOB = "alice-0123456789abcdef", "bob-fedcba9876543210"
#: folder label -> colours of its photos: twelve red photos wrongly filed as blue
FOLDERS = {"red": ["red"] * 4, "green": ["green"] * 4, "blue": ["blue"] * 4 + ["red"] * 12}


@dataclass(frozen=True)
class ReviewSetup:
    model: Path
    index: Path
    study: Path
    reviewers: Path
    mislabelled: list[str]  # observation ids of the red photos filed as blue


def make_review_setup(root: Path) -> ReviewSetup:
    from fieldguide.ingest import ingest_image_folder
    from fieldguide.search import build, read_source
    from fieldguide.store import Study

    rng = np.random.default_rng(1)
    photos = root / "photos"
    mislabelled = []
    for label, colours in FOLDERS.items():
        (photos / label).mkdir(parents=True)
        for i, colour in enumerate(colours):
            noisy = np.array(COLOURS[colour], float) + rng.normal(0, 25, (16, 24, 3))
            name = f"{colour[0]}{i:02d}"
            Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(
                photos / label / f"{name}.jpg")
            if colour != label:
                mislabelled.append(f"{label}/{name}")
    model = write_tiny_model(root / "model")
    with Study(root / "study") as study:
        ingest_image_folder(study, photos)
    build(model, read_source(root / "study"), root / "index", threads=1)
    reviewers = root / "reviewers.txt"
    reviewers.write_text(f"# name token\nalice {ALICE}\n\nbob {BOB}\n")
    return ReviewSetup(model, root / "index", root / "study", reviewers, mislabelled)


NOISE = ("rank,photo_id,path,split,label,suggested,p_label,p_suggested,noise_score,"
         "label_issue\n"
         "1,blue/r04,,train,blue,red,0.05,0.95,0.95,true\n"
         "2,blue/r05,,train,blue,red,0.1,0.9,0.9,true\n"
         "3,green/g00,,train,green,blue,0.8,0.2,0.2,false\n")
ANOMALIES = ("observation_id,taxon,latitude,longitude,observed_on,anomaly_score,"
             "expected_nearby,geo_score\n"
             "blue/r04,blue,1,1,2016-01-01,0.8,false,0.5\n"
             "green/g01,green,1,1,2016-01-01,0.75,false,0.5\n"
             "red/r00,red,1,1,2016-01-01,0.1,true,0.9\n")
#: Above the tiny model's probabilities of some photos and below others'.
THRESHOLD = "0.92"


@dataclass(frozen=True)
class Queues:
    setup: ReviewSetup
    manifest: Path  # a dataset manifest with flagged photos
    unflagged: Path  # one built without a flagging rule
    identifications: Path  # identify's per-photo output (its .observations beside it)
    unvalidated: list[str]  # the observations identify did not auto-validate


def build_manifest(study: Path, steps: list[dict[str, object]], out: Path) -> Path:
    from fieldguide.curation import build_dataset, parse_spec
    from fieldguide.store import Study

    with Study(study) as opened:
        build_dataset(opened, parse_spec({"name": "t", "step": steps,
                                          "split": {"method": "none"}}), out)
    return out / "manifest.parquet"


def make_queues(root: Path) -> Queues:
    """A review setup with its queue files: a manifest two rules flagged, one built without
    them, and ``identify``'s output at a threshold some photos miss."""
    from typer.testing import CliRunner

    from fieldguide.cli.main import app

    setup = make_review_setup(root)
    (root / "noise.csv").write_text(NOISE)
    (root / "anomalies.csv").write_text(ANOMALIES)
    manifest = build_manifest(setup.study, [
        {"rule": "label_noise", "file": str(root / "noise.csv")},
        {"rule": "anomalies", "file": str(root / "anomalies.csv")}], root / "flagged")
    unflagged = build_manifest(setup.study, [], root / "plain")
    out = root / "identified.csv"
    done = CliRunner().invoke(app, ["identify", str(setup.model), str(setup.study), "-o",
                                    str(out), "--threads", "1", "--threshold", THRESHOLD])
    assert done.exit_code == 0, done.output
    with (root / "identified.observations.csv").open() as f:
        unvalidated = [r["observation_id"] for r in csv.DictReader(f)
                       if r["auto_validated"] != "true"]
    assert 0 < len(unvalidated) < 24  # the threshold splits them
    return Queues(setup, manifest, unflagged, out, unvalidated)


@pytest.fixture
def review_setup(tmp_path: Path) -> ReviewSetup:
    return make_review_setup(tmp_path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def serve_in_thread(app: Any) -> Iterator[str]:
    """``app`` on a real uvicorn on a free loopback port, in a thread of this process."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", timeout_keep_alive=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def count(study: Path, query: str, params: list[Any] | None = None) -> int:
    """One number from the study, opened read-only for the question only."""
    from fieldguide.store import Study
    from fieldguide.store.sql import scalar

    with Study(study, create=False, read_only=True) as s:
        return int(scalar(s.con, query, params))
