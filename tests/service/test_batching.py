"""The micro-batcher runs up to ``in_flight`` model calls at once but gathers one batch at a
time, answers given in mixed batches equal those given one request at a time, and
``fieldguide serve`` keeps OpenBLAS on one thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from fieldguide.service import Settings, create_app
from fieldguide.service.batcher import Batcher
from tests.service.test_same_answer import flower_photos

pytestmark = pytest.mark.anyio


class Gate:
    """A model call that records its batch and, for the first call, waits to be released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.running = 0
        self.most_at_once = 0
        self.lock = threading.Lock()

    def __call__(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        with self.lock:
            self.batches.append([int(r) for r in rows[:, 0]])
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            first = len(self.batches) == 1
        if first:
            self.release.wait(10)
        with self.lock:
            self.running -= 1
        return {"twice": rows * 2}


async def _gated(in_flight: int) -> tuple[Gate, list[dict[str, np.ndarray]]]:
    """Request 0 alone in the first (held) call, then requests 1-3 queued together."""
    gate = Gate()
    batcher = Batcher(gate, max_batch=32, wait_s=0.01, in_flight=in_flight)
    first = asyncio.ensure_future(batcher.submit(np.array([[0]])))
    while not gate.batches:
        await asyncio.sleep(0.005)
    rest = [asyncio.ensure_future(batcher.submit(np.array([[i], [i]]))) for i in (1, 2, 3)]
    await asyncio.sleep(0.2)  # a second call, if allowed, gathers and runs meanwhile
    gate.release.set()
    answers = await asyncio.gather(first, *rest)
    await batcher.close()
    return gate, answers


async def test_two_calls_in_flight_and_one_batch_gathered_at_a_time() -> None:
    gate, answers = await _gated(in_flight=2)
    assert gate.most_at_once == 2
    assert gate.batches == [[0], [1, 1, 2, 2, 3, 3]], "the queued requests form one batch"
    assert [a["twice"][:, 0].tolist() for a in answers] == [[0], [2, 2], [4, 4], [6, 6]]


async def test_one_call_in_flight_waits_for_the_first() -> None:
    gate, answers = await _gated(in_flight=1)
    assert gate.most_at_once == 1
    assert gate.batches == [[0], [1, 1, 2, 2, 3, 3]]
    assert [a["twice"][:, 0].tolist() for a in answers] == [[0], [2, 2], [4, 4], [6, 6]]


async def test_answers_in_mixed_batches_equal_answers_one_at_a_time(
        tiny_model: Path, shared_data: Path) -> None:
    """Sixteen real photos sent at once (batches of several requests, two calls in flight)
    and then one after another: the same JSON, to the last digit."""
    folder = shared_data / "images" / "oxford_flowers12" / "test"
    photos = sorted(folder.glob("*/*.jpg"))[::20][:16] + flower_photos(shared_data)
    app = create_app(tiny_model, settings=Settings(wait_ms=20))
    transport = httpx.ASGITransport(app=app)

    async def ask(c: httpx.AsyncClient, photo: Path) -> Any:
        r = await c.post("/v1/identify", files=[("images", (photo.name, photo.read_bytes(),
                                                            "image/jpeg"))])
        assert r.status_code == 200, r.text
        return r.json()

    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        together = await asyncio.gather(*(ask(c, p) for p in photos))
        alone = [await ask(c, p) for p in photos]
        text = (await c.get("/metrics")).text
    assert together == alone
    sizes = [line for line in text.splitlines()
             if line.startswith("fieldguide_batch_size_count")]
    batches = float(sizes[0].split()[-1])
    assert batches < 2 * len(photos), "some requests shared a batch"


def test_serve_runs_openblas_on_one_thread_in_its_workers(tiny_model: Path) -> None:
    """``fieldguide serve`` sets OPENBLAS_NUM_THREADS=1 before NumPy loads, and its worker
    processes inherit it (read from their environment, as the kernel holds it)."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import psutil

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    server = subprocess.Popen([sys.executable, "-m", "fieldguide.cli.main", "serve",
                               str(tiny_model), "--port", str(port), "--workers", "2"],
                              env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "serve did not start"
            time.sleep(0.2)
        workers = psutil.Process(server.pid).children(recursive=True)
        assert len(workers) >= 2
        assert all(p.environ().get("OPENBLAS_NUM_THREADS") == "1" for p in workers)
    finally:
        server.terminate()
        server.wait(20)
