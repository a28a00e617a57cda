"""A real HTTP server on 127.0.0.1 that serves real photos and misbehaves on purpose.

The first path segment says how: ``/ok/NAME``, ``/404/NAME`` (also 403, 410), ``/429/NAME``
(429 with Retry-After: 1 on the first request, then the photo), ``/flaky/NAME`` (500, then the
photo), ``/down/NAME`` (always 503), ``/slow/NAME`` (the body in pauses, within the timeout),
``/stall/NAME`` (half the body, then silence past the timeout), ``/truncated/NAME`` (a
Content-Length it does not honour), ``/html/NAME`` (a web page), ``/redirect/NAME`` (302 to
``/ok/NAME``), ``/big/NAME`` and ``/bigchunked/NAME`` (the photo, which the test's cap is
under, with and without Content-Length), ``/hold/NAME`` (waits on :attr:`gate`; answers
nothing when :attr:`discard` is set meanwhile).

``hits`` counts requests per path; ``served`` counts bodies sent in full; ``agents`` holds
the User-Agents seen, ``accepts`` the Accept headers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class PhotoServer:
    def __init__(self, photos: dict[str, bytes]) -> None:
        self.photos = photos
        self.hits: Counter[str] = Counter()
        self.served: Counter[str] = Counter()
        self.agents: set[str] = set()
        self.accepts: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()
        self.discard = False
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, how: str, name: str) -> str:
        return f"{self.base}/{how}/{name}"


def _handler(server: PhotoServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _head(self, code: int, length: int | None, kind: str = "image/jpeg",
                  extra: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            if length is not None:
                self.send_header("Content-Length", str(length))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()

        def _photo(self, body: bytes) -> None:
            self._head(200, len(body))
            self.wfile.write(body)
            with server.lock:
                server.served[self.path] += 1

        def do_GET(self) -> None:
            with server.lock:
                server.hits[self.path] += 1
                server.agents.add(self.headers.get("User-Agent", ""))
                server.accepts.add(self.headers.get("Accept", ""))
                nth = server.hits[self.path]
            _, how, name = self.path.split("/", 2)
            body = server.photos.get(name.split("?")[0])
            if body is None:
                self._head(404, 0, "text/plain")
                return
            if how in ("404", "403", "410"):
                self._head(int(how), 0, "text/plain")
            elif how == "429" and nth == 1:
                self._head(429, 0, "text/plain", {"Retry-After": "1"})
            elif how == "flaky" and nth == 1:
                self._head(500, 0, "text/plain")
            elif how == "down":
                self._head(503, 0, "text/plain")
            elif how == "slow":
                self._head(200, len(body))
                step = len(body) // 4 + 1
                for i in range(0, len(body), step):
                    self.wfile.write(body[i:i + step])
                    self.wfile.flush()
                    time.sleep(0.1)
                with server.lock:
                    server.served[self.path] += 1
            elif how == "stall":
                self._head(200, len(body))
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                time.sleep(1.5)
                self.close_connection = True
            elif how == "truncated":
                self._head(200, len(body))
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
            elif how == "html":
                page = b"<!doctype html><html><body>Sign in to continue</body></html>"
                self._head(200, len(page), "text/html")
                self.wfile.write(page)
            elif how == "redirect":
                self._head(302, 0, "text/plain", {"Location": f"/ok/{name}"})
            elif how == "bigchunked":
                self._head(200, None, extra={"Transfer-Encoding": "chunked"})
                for i in range(0, len(body), 4096):
                    part = body[i:i + 4096]
                    self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            elif how == "hold":
                server.gate.wait()
                if server.discard:
                    self.close_connection = True
                    return
                self._photo(body)
            else:  # ok, big, and the second request of 429 / flaky
                self._photo(body)

    return Handler


@contextmanager
def running(photos: dict[str, bytes]) -> Iterator[PhotoServer]:
    server = PhotoServer(photos)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.gate.set()
        server.httpd.shutdown()
        server.httpd.server_close()
