"""photos fetch on loopback: N small real JPEGs at concurrency 1, 8 and 32; photos/s and the
peak memory (RSS) of the run, each in a fresh process so peaks do not carry over.

    .venv/bin/python bench/fetch.py [--photos 20000]
    .venv/bin/python bench/fetch.py --quick    # 300 photos, to check the script
"""

from __future__ import annotations

import argparse
import json
import resource
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
        start = time.perf_counter()
        report = fetch_study(s, options=FetchOptions(concurrency=concurrency, rate=0))
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"fetched": report.fetched, "seconds": seconds, "peak_mib": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="300 photos: a check of the script")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.photos = 300
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    from fieldguide.store import Study

    bodies = [p.read_bytes() for p in sorted(PHOTOS.rglob("*.jpg"))[:200]]
    httpd = serve(bodies)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    print(f"{args.photos:,} photos of ~{sum(map(len, bodies)) // len(bodies) // 1024} KiB "
          "from a loopback server (one process serving, one fetching)")
    print("| concurrency | photos/s | seconds | peak RSS MiB | ratio to 1 |")
    print("|---:|---:|---:|---:|---:|")
    first = None
    for concurrency in (1, 8, 32):
        with tempfile.TemporaryDirectory() as tmp:
            study = f"{tmp}/study"
            with Study(study) as s, s.transaction() as con:
                con.execute("INSERT INTO observations (observation_id, source) "
                            "SELECT i::VARCHAR, 'bench' FROM range(?) t(i)", [args.photos])
                con.execute("INSERT INTO photos (photo_id, observation_id, url) "
                            "SELECT i::VARCHAR, i::VARCHAR, ? || '/ok/' || i || '.jpg' "
                            "FROM range(?) t(i)", [base, args.photos])
            out = subprocess.run([sys.executable, __file__, "--child", study, str(concurrency)],
                                 capture_output=True, text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            assert r["fetched"] == args.photos, r
            rate = r["fetched"] / r["seconds"]
            first = first or rate
            print(f"| {concurrency} | {rate:,.0f} | {r['seconds']:.1f} | {r['peak_mib']:.0f} | "
                  f"{rate / first:.2f} |")
    httpd.shutdown()


if __name__ == "__main__":
    main()
