"""The tiny colour model of tests/identification, and a prior that expects green in Europe
and red in Australia, both real artefacts loaded by the app."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fieldguide.service import create_app
from tests.identification.conftest import CLASSES, write_tiny_model


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (24, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return write_tiny_model(tmp_path / "model")


def write_tiny_prior(folder: Path) -> Path:
    """Counts prior fitted on synthetic records: green near (50, 10), red near (-30, 150)."""
    from fieldguide.priors import fit_prior
    from fieldguide.priors.observations import Observations
    from fieldguide.priors.store import save_prior

    rng = np.random.default_rng(0)
    n = 600
    taxon = np.repeat([CLASSES.index("green"), CLASSES.index("red")], n // 2).astype(np.int64)
    lat = np.where(taxon == 1, 50.0, -30.0) + rng.normal(0, 1, n)
    lon = np.where(taxon == 1, 10.0, 150.0) + rng.normal(0, 1, n)
    obs = Observations(taxon, lat, lon, rng.uniform(1, 365, n), rng.integers(0, 60, n),
                       list(CLASSES), np.zeros(3, dtype=np.int64), ["Colour"], "species",
                       Counter())
    save_prior(fit_prior(obs), folder)
    return folder


@pytest.fixture
def tiny_prior(tmp_path: Path) -> Path:
    """The prior of :func:`write_tiny_prior`."""
    return write_tiny_prior(tmp_path / "prior")


@pytest.fixture
def served(tiny_model: Path) -> Iterator[str]:
    """The app on a real uvicorn on a free loopback port, in a thread of this process."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(tiny_model), host="127.0.0.1", port=port,
                            log_level="warning", timeout_keep_alive=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
