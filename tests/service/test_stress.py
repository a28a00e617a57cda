"""Over a thousand malformed requests interleaved with good ones: every bad one is a 4xx with
a message, every good one answered, memory flat; the slow body goes to a real uvicorn."""

from __future__ import annotations

import io
import resource
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from fieldguide.service import Settings, create_app
from tests.service.conftest import jpeg

pytestmark = pytest.mark.anyio
RED = jpeg((230, 30, 20))


def _bomb() -> bytes:
    """A PNG whose header claims more pixels than the limit (tiny on disk)."""
    buf = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buf, "PNG")
    return buf.getvalue()


def _bad_requests() -> list[tuple[str, dict[str, Any]]]:
    one = [("images", ("a.jpg", RED, "image/jpeg"))]
    return [
        ("not an image", {"files": [("images", ("a.jpg", b"hello", "image/jpeg"))]}),
        ("truncated", {"files": [("images", ("a.jpg", RED[: len(RED) // 2], "image/jpeg"))]}),
        ("bomb", {"files": [("images", ("b.png", _bomb(), "image/png"))]}),
        ("empty", {"files": [("images", ("a.jpg", b"", "image/jpeg"))]}),
        ("eleven", {"files": one * 11}),
        ("huge", {"files": [("images", ("a.jpg", b"\xff" * 300_000, "image/jpeg"))]}),
        ("wrong fields", {"files": [("photo", ("a.jpg", RED, "image/jpeg"))]}),
        ("text coords", {"files": one, "data": {"latitude": "x", "longitude": "y"}}),
        ("lat 999", {"files": one, "data": {"latitude": "999", "longitude": "0"}}),
        ("2099", {"files": one, "data": {"date": "2099-06-01"}}),
        ("bad json", {"content": b"{images:", "headers": {"content-type": "application/json"}}),
    ]


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def test_a_thousand_bad_requests(tiny_model: Path) -> None:
    settings = Settings(max_bytes=200_000, max_pixels=10_000_000)
    app = create_app(tiny_model, settings=settings)
    bad = _bad_requests()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        good_body: dict[str, Any] = {"files": [("images", ("a.jpg", RED, "image/jpeg"))]}
        warm = None
        for i in range(1100):
            if i == 200:
                warm = _rss_mib()
            name, req = bad[i % len(bad)]
            r = await c.post("/v1/identify", **req)
            assert 400 <= r.status_code < 500, (name, r.status_code, r.text)
            assert isinstance(r.json()["detail"], str) and r.json()["detail"], name
            if i % 10 == 0:
                g = await c.post("/v1/identify", **good_body)
                assert g.status_code == 200 and g.json()["results"][0]["taxon"] == "red"
        assert (await c.get("/health")).status_code == 200
    assert warm is not None and _rss_mib() - warm < 40, "memory grew"


def test_slow_body_does_not_block_others(served: str) -> None:
    """A client dribbling its body a byte at a time while good requests are answered."""
    with socket.create_connection(("127.0.0.1", int(served.rsplit(":", 1)[1]))) as slow:
        slow.sendall(b"POST /v1/identify HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/"
                     b"form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n")
        for _ in range(5):
            slow.sendall(b"x")
            r = httpx.post(f"{served}/v1/identify",
                           files=[("images", ("a.jpg", RED, "image/jpeg"))], timeout=10)
            assert r.status_code == 200 and r.json()["results"][0]["taxon"] == "red"
        slow.shutdown(socket.SHUT_WR)
        slow.settimeout(10)
        answer = slow.recv(4096)
    assert answer == b"" or answer.split(b" ")[1].startswith(b"4")
    assert httpx.get(f"{served}/health").status_code == 200
