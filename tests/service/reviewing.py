"""A study to review: coloured photos in a labelled folder (some red ones filed under
"blue", so reverse search for red has candidates), the tiny colour model, an index of the
study built with it, and a reviewers file. Shared by the review tests (API, page)."""

from __future__ import annotations

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
