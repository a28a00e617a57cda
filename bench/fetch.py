"""photos fetch on loopback: N small real JPEGs (about 10 KiB each) at concurrency 1, 8 and
32, each followed by ``curl --parallel --parallel-max C`` fetching the same N photos from the
same server in the same run (the peer: a C client that checks nothing, writing the same
files; its rows show what the server and the machine allow), and one more fetch of 5 x N photos
at concurrency 32 to show that memory does not grow with the number of photos. Each fetch runs
in a fresh process (so peaks do not carry over); each row has the client's CPU time per photo
(user + system, the server's excluded) and the load average when it ended: on a shared
machine compare rows of one run, not figures of two.

    .venv/bin/python bench/fetch.py [--photos 2000] [--repeat 2]
    .venv/bin/python bench/fetch.py --quick    # 300 photos, to check the script

Targets (issue 27): >= 500 photos/s and >= 0.5 x curl at concurrency 32, the rate growing with
the concurrency, peak RSS flat in the number of photos.
"""

from __future__ import annotations

import argparse
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


def serve(bodies: list[bytes]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = bodies[int(self.path.rsplit("/", 1)[1].split(".")[0]) % len(bodies)]
            # One write for head and body: two small writes meet Nagle and delayed ACK and
            # cost 40 ms a photo, which would measure the server, not the client.
            head = (f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            self.wfile.write(head + body)

    class Server(ThreadingHTTPServer):
        # The default listen backlog (5) drops connects at concurrency 32: the client would
        # spend its time retrying connection errors, measuring the backlog, not the fetch.
        request_queue_size = 256

    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


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


def fieldguide_fetch(base: str, photos: int, concurrency: int) -> dict[str, float]:
    """``fetch_study`` of a fresh study of ``photos`` photos, in its own process."""
    from fieldguide.store import Study

    with tempfile.TemporaryDirectory() as tmp:
        study = f"{tmp}/study"
        with Study(study) as s, s.transaction() as con:
            con.execute("INSERT INTO observations (observation_id, source) "
                        "SELECT i::VARCHAR, 'bench' FROM range(?) t(i)", [photos])
            con.execute("INSERT INTO photos (photo_id, observation_id, url) "
                        "SELECT i::VARCHAR, i::VARCHAR, ? || '/ok/' || i || '.jpg' "
                        "FROM range(?) t(i)", [base, photos])
        out = subprocess.run([sys.executable, __file__, "--child", study, str(concurrency)],
                             capture_output=True, text=True, check=True).stdout
    r: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    assert r["fetched"] == photos, r
    return r


def curl_fetch(base: str, photos: int, parallel: int) -> dict[str, float]:
    """``curl --parallel`` writing the same photos to files (a config file lists them)."""
    with tempfile.TemporaryDirectory() as tmp:
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
    return {"fetched": fetched, "seconds": seconds, "cpu_s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of the whole table")
    parser.add_argument("--quick", action="store_true", help="300 photos: a check of the script")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.photos = 300
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    if shutil.which("curl") is None:
        raise SystemExit("curl is needed for the peer row")

    bodies = [p.read_bytes() for p in sorted(PHOTOS.rglob("*.jpg"))[:200]]
    httpd = serve(bodies)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"photos of ~{sum(map(len, bodies)) // len(bodies) // 1024} KiB from a loopback "
          f"server (one process serving, one fetching), {when}")
    print("| run | client | concurrency | photos | photos/s | seconds | client CPU ms/photo | "
          "peak RSS MiB | ratio | load (1 min) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---|---:|")

    def row(run: int, client: str, concurrency: int, photos: int, r: dict[str, float],
            ratio: str) -> float:
        rate = r["fetched"] / r["seconds"]
        peak = f"{r['peak_mib']:,.0f}" if "peak_mib" in r else "-"
        print(f"| {run} | {client} | {concurrency} | {photos:,} | {rate:,.0f} | "
              f"{r['seconds']:.2f} | {1000 * r['cpu_s'] / r['fetched']:.2f} | {peak} | {ratio} | "
              f"{os.getloadavg()[0]:.1f} |", flush=True)
        return rate

    for run in range(1, args.repeat + 1):
        first = None
        for concurrency in (1, 8, 32):
            r = fieldguide_fetch(base, args.photos, concurrency)
            rate = r["fetched"] / r["seconds"]
            first = first or rate
            row(run, "fieldguide", concurrency, args.photos, r, f"{rate / first:.2f} x c=1")
            peak_small = r["peak_mib"]
            curl = curl_fetch(base, args.photos, concurrency)
            curl_rate = curl["fetched"] / curl["seconds"]
            row(run, "curl", concurrency, args.photos, curl,
                f"fieldguide = {rate / curl_rate:.2f} x curl")
        big = 5 * args.photos
        r = fieldguide_fetch(base, big, 32)
        row(run, "fieldguide", 32, big, r, f"RSS {r['peak_mib'] / peak_small:.2f} x "
            f"at {args.photos:,}")
    httpd.shutdown()


if __name__ == "__main__":
    main()
