"""photos fetch on loopback: N small real JPEGs (about 10 KiB each) at concurrency 1, 8 and
32, each followed by ``curl --parallel --parallel-max C`` fetching the same N photos from the
same server in the same run (the peer: a C client that checks nothing, writing the same
files; its rows show what the server and the machine allow), one more fetch of 5 x N photos
at concurrency 32 to show that memory does not grow with the number of photos, and the same
pairs against a server that waits ``--latency`` ms before each answer (a photo host across a
network: the reason for fetching concurrently). Each fetch runs in a fresh process (so peaks
do not carry over); each row has the client's CPU time per photo (user + system, the
server's excluded) and the load average when it ended: on a shared machine compare rows of
one run, not figures of two. The files of every run stay until the table is done: until
2026-12-06 each run's were removed before the next, and the clients then paid ext4's cost
of creating files just after a deletion (curl 1,000-2,000 photos/s instead of 10,000+).

The server is a single-threaded asyncio server in a process of its own, answering from
memory. Until issue 27's second round it was a ``ThreadingHTTPServer`` (a thread per
connection) inside the bench's own process: it got slower with every connection added, for
curl too (4,936 / 2,877 / 1,747 photos/s at 1 / 8 / 32), so no client's rate could grow with
the concurrency. That host, the one issue 27's figures were measured on, is kept as
``--hosts threaded`` (now in a process of its own too), so both ratios can be shown.

    .venv/bin/python bench/fetch.py [--photos 2000] [--repeat 2] [--latency 20]
                                    [--hosts asyncio,threaded] [--compare OTHER/src]
    .venv/bin/python bench/fetch.py --quick    # 300 photos, to check the script

Targets (issue 27): >= 500 photos/s and >= 0.5 x curl at concurrency 32, the rate growing with
the concurrency, peak RSS flat in the number of photos.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "images" / "oxford_flowers12"


def photo_bodies() -> list[bytes]:
    return [p.read_bytes() for p in sorted(PHOTOS.rglob("*.jpg"))[:200]]


def serve_forever(latency: float) -> None:
    """The photo host (run with ``--serve``): ``GET /ok/<n>.jpg`` answers photo n modulo 200,
    head and body in one write (two small writes meet Nagle and delayed ACK: 40 ms a photo),
    after ``latency`` seconds; keep-alive, one thread, no parsing beyond the request line.
    Prints its port, then serves until stdin closes."""
    answers = []
    for body in photo_bodies():
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        answers.append(head + body)

    class Host(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            self.buffer = b""
            self.waiting: collections.deque[bytes] = collections.deque()

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                line = self.buffer[:self.buffer.find(b"\r\n")]
                self.buffer = self.buffer[end + 4:]
                try:
                    n = int(line.split(b" ")[1].rsplit(b"/", 1)[1].split(b".")[0])
                    answer = answers[n % len(answers)]
                except (IndexError, ValueError):
                    answer = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                if not latency:
                    self.transport.write(answer)
                    continue
                # Answers leave in the order asked, each `latency` after its request.
                self.waiting.append(answer)
                loop.call_later(latency, self.answer)

        def answer(self) -> None:
            if not self.transport.is_closing():
                self.transport.write(self.waiting.popleft())

    async def run() -> None:
        # Backlog 256: the default drops connects at concurrency 32, and a client would then
        # be measured retrying connection errors.
        server = await loop.create_server(Host, "127.0.0.1", 0, backlog=256)
        print(server.sockets[0].getsockname()[1], flush=True)
        await loop.run_in_executor(None, sys.stdin.read)  # until the bench closes our stdin

    loop = asyncio.new_event_loop()
    loop.run_until_complete(run())


def serve_threaded() -> None:
    """Issue 27's photo host (run with ``--serve-threaded``): a ``ThreadingHTTPServer``, one
    thread per connection, head and body in one write. Prints its port, then serves until
    stdin closes."""
    bodies = photo_bodies()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = bodies[int(self.path.rsplit("/", 1)[1].split(".")[0]) % len(bodies)]
            self.wfile.write((f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                              f"Content-Length: {len(body)}\r\n\r\n").encode() + body)

    class Host(ThreadingHTTPServer):
        request_queue_size = 256   # as above: no dropped connects at 32
        daemon_threads = True

    httpd = Host(("127.0.0.1", 0), Handler)
    print(httpd.server_address[1], flush=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    sys.stdin.read()


class Server:
    """The photo host in a process of its own (so it shares no interpreter with the bench or
    a client), ``latency`` seconds before each answer; ``threaded``: issue 27's host."""

    def __init__(self, latency: float, threaded: bool = False) -> None:
        command = (["--serve-threaded"] if threaded else ["--serve", str(latency)])
        self.process = subprocess.Popen([sys.executable, __file__, *command],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.base = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


def child(study: str, concurrency: int) -> None:
    from fieldguide.photos import FetchOptions, fetch_study
    from fieldguide.store import Study

    with Study(study) as s:
        start, cpu = time.perf_counter(), time.process_time()
        report = fetch_study(s, options=FetchOptions(concurrency=concurrency, rate=0))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"fetched": report.fetched, "seconds": seconds, "peak_mib": peak,
                      "cpu_s": cpu}))


def fieldguide_fetch(base: str, photos: int, concurrency: int, scratch: Path,
                     code: str | None = None) -> dict[str, float]:
    """``fetch_study`` of a fresh study of ``photos`` photos (under ``scratch``), in its own
    process (running the fieldguide under ``code`` when given); ``process_s`` is that
    process's whole life (start-up, opening the study and exit included)."""
    from fieldguide.store import Study

    study = f"{tempfile.mkdtemp(dir=scratch)}/study"
    with Study(study) as s, s.transaction() as con:
        con.execute("INSERT INTO observations (observation_id, source) "
                    "SELECT i::VARCHAR, 'bench' FROM range(?) t(i)", [photos])
        con.execute("INSERT INTO photos (photo_id, observation_id, url) "
                    "SELECT i::VARCHAR, i::VARCHAR, ? || '/ok/' || i || '.jpg' "
                    "FROM range(?) t(i)", [base, photos])
    start = time.perf_counter()
    env = None if code is None else {**os.environ, "PYTHONPATH": code}
    out = subprocess.run([sys.executable, __file__, "--child", study, str(concurrency)],
                         capture_output=True, text=True, check=True, env=env).stdout
    process = time.perf_counter() - start
    r: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    assert r["fetched"] == photos, r
    r["process_s"] = process
    return r


def curl_fetch(base: str, photos: int, parallel: int, scratch: Path) -> dict[str, float]:
    """``curl --parallel`` writing the same photos to files under ``scratch`` (a config file
    lists them)."""
    tmp = tempfile.mkdtemp(dir=scratch)
    config = Path(tmp) / "urls.txt"
    config.write_text("".join(f'url = "{base}/ok/{i}.jpg"\noutput = "{tmp}/{i}.jpg"\n'
                              for i in range(photos)))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run(["curl", "--parallel", "--parallel-max", str(parallel),
                          "--no-progress-meter", "--fail", "--config", str(config)],
                         capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode:
        raise SystemExit(f"curl failed ({run.returncode}): {run.stderr[-500:]}")
    fetched = sum(1 for p in Path(tmp).glob("*.jpg") if p.stat().st_size)
    assert fetched == photos, (fetched, photos)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"fetched": fetched, "seconds": seconds, "cpu_s": cpu, "process_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of the whole table")
    parser.add_argument("--latency", type=float, default=20.0,
                        help="ms the second server waits before each answer (0: no such rows)")
    parser.add_argument("--latency-photos", type=int, default=500,
                        help="photos per fetch from the slow server (at 20 ms and one "
                             "connection, 500 take 10 s)")
    parser.add_argument("--hosts", default="asyncio,threaded",
                        help="photo hosts without waiting: asyncio (one thread, no slowdown "
                             "with connections) and/or threaded (issue 27's host)")
    parser.add_argument("--compare", metavar="SRC",
                        help="also fetch with the fieldguide package under SRC (e.g. another "
                             "checkout's src), after each fieldguide row of the same table")
    parser.add_argument("--quick", action="store_true", help="300 photos: a check of the script")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--serve-threaded", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.photos, args.latency_photos = 300, 100
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    if args.serve is not None:
        serve_forever(args.serve)
        return
    if args.serve_threaded:
        serve_threaded()
        return
    if shutil.which("curl") is None:
        raise SystemExit("curl is needed for the peer row")

    bodies = photo_bodies()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"photos of ~{sum(map(len, bodies)) // len(bodies) // 1024} KiB from a loopback "
          f"server in a process of its own, answering from memory (asyncio: one thread; "
          f"threaded: a thread per connection, issue 27's host), {when}")
    print("| run | server | client | concurrency | photos | photos/s | seconds (process) | "
          "client CPU ms/photo | peak RSS MiB | ratio | load (1 min) |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|")

    hosts = args.hosts.split(",")
    if not set(hosts) <= {"asyncio", "threaded"}:
        raise SystemExit(f"--hosts: asyncio and/or threaded, not {args.hosts!r}")
    servers = [(f"{host}, no wait", 0.0, args.photos, host == "threaded") for host in hosts]
    if args.latency:
        servers.append((f"asyncio, {args.latency:g} ms", args.latency / 1000,
                        args.latency_photos, False))
    # Every run's files stay until the whole table is done: ext4 makes a file created within
    # a minute or so of a deletion scan the inodes deleted lately (perf: 43% of a fetch's
    # samples in the kernel's recently_deleted after the run before it was removed), which
    # taxed each client for the files of the run before it.
    with tempfile.TemporaryDirectory() as scratch:
        table(args, servers, Path(scratch))


def row(run: int, server: str, client: str, concurrency: int, photos: int,
        r: dict[str, float], ratio: str) -> None:
    rate = r["fetched"] / r["seconds"]
    peak = f"{r['peak_mib']:,.0f}" if "peak_mib" in r else "-"
    print(f"| {run} | {server} | {client} | {concurrency} | {photos:,} | {rate:,.0f} | "
          f"{r['seconds']:.2f} ({r['process_s']:.2f}) | "
          f"{1000 * r['cpu_s'] / r['fetched']:.2f} | {peak} | {ratio} | "
          f"{os.getloadavg()[0]:.1f} |", flush=True)


def table(args: argparse.Namespace, servers: list[tuple[str, float, int, bool]],
          scratch: Path) -> None:
    for run in range(1, args.repeat + 1):
        for name, latency, photos, threaded in servers:
            server = Server(latency, threaded)
            try:
                first = None
                for concurrency in (1, 8, 32):
                    r = fieldguide_fetch(server.base, photos, concurrency, scratch)
                    rate = r["fetched"] / r["seconds"]
                    first = first or rate
                    row(run, name, "fieldguide", concurrency, photos, r,
                        f"{rate / first:.2f} x c=1")
                    peak_small = r["peak_mib"]
                    if args.compare:
                        other = fieldguide_fetch(server.base, photos, concurrency, scratch,
                                                 args.compare)
                        row(run, name, "fieldguide (--compare)", concurrency, photos, other,
                            f"fieldguide = {rate * other['seconds'] / other['fetched']:.2f} x")
                    curl = curl_fetch(server.base, photos, concurrency, scratch)
                    curl_rate = curl["fetched"] / curl["seconds"]
                    row(run, name, "curl", concurrency, photos, curl,
                        f"fieldguide = {rate / curl_rate:.2f} x curl")
                if not latency and not threaded:
                    big = 5 * photos
                    r = fieldguide_fetch(server.base, big, 32, scratch)
                    row(run, name, "fieldguide", 32, big, r,
                        f"RSS {r['peak_mib'] / peak_small:.2f} x at {photos:,}")
                    if args.compare:
                        other = fieldguide_fetch(server.base, big, 32, scratch, args.compare)
                        row(run, name, "fieldguide (--compare)", 32, big, other,
                            f"RSS {other['peak_mib'] / peak_small:.2f} x at {photos:,}")
            finally:
                server.close()


if __name__ == "__main__":
    main()
