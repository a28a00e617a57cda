"""Service benchmark: an aiohttp load generator on loopback against ``fieldguide serve``
(its own process, a real uvicorn), 1, 8 and 32 concurrent clients each sending real JPEGs
(the Oxford flowers) for a bounded time; req/s and p50/p95/p99 latency, beside the batch
identification rate of the same model measured in the same run (``Classifier.run`` on
decoded crops in batches of 32, the ceiling the service's micro-batching aims at).

    python bench/serve.py --model ARTEFACT [--seconds 20] [--workers 1] [--quick]

The batch rate is measured before and after the service levels and the ratio is taken against
their mean, and each row carries the load average: on a shared machine both move by the minute.
Each row also gives the CPU per request of the server and of the load generator: both share
the same cores, so a generator's own CPU is taken from the server. httpx's client took 3.2 ms
per request at 32 clients, aiohttp's 0.5 ms (the server about 17): hence aiohttp.

Targets (docs/benchmarks.md, EfficientNet-Lite0): p99 <= 250 ms at 8 clients; req/s at 32
clients >= 80% of the batch rate. ``--quick`` (2 s per level, 1 and 8 clients, the tiny
colour model of the tests when no --model is given) only checks that the script works.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from fieldguide.identification import Classifier
from fieldguide.models.pixels import crop_pixels

FLOWERS = Path(__file__).resolve().parents[1] / "../shared/data/images/oxford_flowers12"


def _serve(model: Path, workers: int) -> tuple[str, subprocess.Popen[bytes]]:
    """``fieldguide serve`` in its own process, as deployed: the load generator's own Python
    work must not share the server's interpreter lock."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "fieldguide.cli.main", "serve", str(model),
                               "--port", str(port), "--workers", str(workers)],
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return url, server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise SystemExit("fieldguide serve did not start")
        time.sleep(0.1)


async def _load(url: str, photos: list[bytes], clients: int, seconds: float) -> list[float]:
    """Each client posts one photo after another until the time is up; latencies (s). The
    multipart bodies are encoded once, so the load generator spends its share of the two
    cores sending, not re-encoding."""
    import aiohttp

    bodies = []
    for photo in photos:
        request = httpx.Request("POST", f"{url}/v1/identify",
                                files=[("images", ("p.jpg", photo, "image/jpeg"))])
        bodies.append((request.read(), {"Content-Type": request.headers["Content-Type"]}))
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def client(c: aiohttp.ClientSession, start: int) -> None:
        i = start
        while time.perf_counter() < stop:
            body, headers = bodies[i % len(bodies)]
            t = time.perf_counter()
            async with c.post(f"{url}/v1/identify", data=body, headers=headers) as r:
                text = await r.text()
            if r.status != 200:
                raise SystemExit(f"status {r.status}: {text[:200]}")
            latencies.append(time.perf_counter() - t)
            i += clients

    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as c:
        await asyncio.gather(*(client(c, k) for k in range(clients)))
    return latencies


def _batch_rate(model: Path, photos: list[bytes], seconds: float) -> float:
    """Photos per second through decode + ``Classifier.run`` in batches of 32 (one thread
    pool of decoders, as the service has)."""
    from concurrent.futures import ThreadPoolExecutor

    clf = Classifier(model)
    done, stop = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        while time.perf_counter() < stop:
            batch = [photos[(done + j) % len(photos)] for j in range(32)]
            clf.run(np.stack(list(pool.map(lambda b: crop_pixels(b, clf.crop), batch))),
                    ["logits"])
            done += 32
    return done / (time.perf_counter() - start)


def _cpu_seconds(pid: int, children: bool = True) -> float:
    """User + system CPU of a process (the server with its worker processes) so far: per
    request, the figure a busy shared machine does not change much (the wall-clock rates it
    does)."""
    import psutil

    procs = [psutil.Process(pid)]
    procs += procs[0].children(recursive=True) if children else []
    return sum(sum(p.cpu_times()[:2]) for p in procs)


def _tiny_model(folder: Path) -> Path:
    """The tests' tiny colour model (quick mode only, when no artefact is given)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.identification.conftest import write_tiny_model

    return write_tiny_model(folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="model artefact (model.json + model.onnx)")
    ap.add_argument("--seconds", type=float, default=20.0, help="per concurrency level")
    ap.add_argument("--workers", type=int, default=1, help="fieldguide serve --workers")
    ap.add_argument("--quick", action="store_true", help="a 2 s check that the script works")
    args = ap.parse_args()
    levels, seconds = ((1, 8), 2.0) if args.quick else ((1, 8, 32), args.seconds)
    paths = sorted(FLOWERS.glob("*/*/*.jpg"))[: 16 if args.quick else 200]
    if not paths:
        raise SystemExit(f"no photos under {FLOWERS}")
    photos = [p.read_bytes() for p in paths]
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            if not args.quick:
                raise SystemExit("--model is needed (quick mode alone uses the tiny model)")
            model = _tiny_model(Path(tmp) / "model")
        before = _batch_rate(model, photos, seconds)
        before_load = os.getloadavg()[0]
        url, server = _serve(model, args.workers)
        rows = []
        for clients in levels:
            cpu, own = _cpu_seconds(server.pid), _cpu_seconds(os.getpid(), children=False)
            lat = np.array(asyncio.run(_load(url, photos, clients, seconds)))
            per_request = (_cpu_seconds(server.pid) - cpu) / len(lat) * 1000
            generator = (_cpu_seconds(os.getpid(), children=False) - own) / len(lat) * 1000
            rows.append((clients, len(lat) / seconds, *(np.percentile(lat, [50, 95, 99]) * 1000),
                         per_request, generator, os.getloadavg()[0]))
        server.terminate()
        server.wait(10)
        after = _batch_rate(model, photos, seconds)
        rate = (before + after) / 2
        print(f"model {model}; {len(photos)} real JPEGs; --workers {args.workers}; "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; batch rate "
              f"{before:.1f} before (load {before_load:.1f}), {after:.1f} after (load "
              f"{os.getloadavg()[0]:.1f}): {rate:.1f} photos/s")
        print("| clients | req/s | p50 ms | p95 ms | p99 ms | req/s / batch rate | "
              "server CPU ms/request | load generator CPU ms/request | load |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for clients, rps, p50, p95, p99, cpu, generator, load in rows:
            print(f"| {clients} | {rps:.1f} | {p50:.1f} | {p95:.1f} | {p99:.1f} | "
                  f"{rps / rate:.0%} | {cpu:.1f} | {generator:.1f} | {load:.1f} |")


if __name__ == "__main__":
    main()
