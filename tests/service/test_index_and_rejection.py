"""The service with what the library fits and builds: a tiny ONNX model with an embedding,
its fitted rejection (``fieldguide reject fit``'s) and a real search index over its photos;
``/v1/similar``, ``/v1/candidates`` and the identify answer's similar photos against that
index; batch identification of paths and of URLs served by a real HTTP server on loopback."""

from __future__ import annotations

import csv
import functools
import http.server
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fieldguide.identification.rejector_fit import fit_model_rejector
from fieldguide.search import build, read_source
from fieldguide.service import Settings, create_app
from tests.identification.test_reject import colour_manifest
from tests.search.conftest import write_tiny_model

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(model with its fitted rejector, index over the train photos, photo folder)."""
    root = tmp_path_factory.mktemp("fitted")
    model = write_tiny_model(root / "model")
    manifest = colour_manifest(root / "photos")
    fit_model_rejector(model, manifest, threads=1)
    build(model, read_source(manifest, "train"), root / "index", threads=1)
    return model, root / "index", root / "photos"


@pytest.fixture(scope="module")
def web(fitted: tuple[Path, Path, Path]) -> Iterator[str]:
    """The photo folder over plain HTTP on 127.0.0.1 (a platform's image host)."""
    handler = functools.partial(_Quiet, directory=str(fitted[2]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/moved.jpg":  # a redirect off the allowed host must not be followed
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data")
            self.end_headers()
            return
        super().do_GET()


@pytest.fixture
async def client(fitted: tuple[Path, Path, Path]) -> AsyncIterator[httpx.AsyncClient]:
    model, index, photos = fitted
    app = create_app(model, index=index,
                     settings=Settings(allow_paths=photos, allow_hosts=("127.0.0.1",)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as c:
        yield c


def _rows(photos: Path) -> dict[str, dict[str, str]]:
    with (photos / "manifest.csv").open(newline="") as fh:
        return {r["photo_id"]: r for r in csv.DictReader(fh)}


def _upload(path: Path) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("images", (path.name, path.read_bytes(), "image/jpeg"))]


async def test_fitted_rejection_through_the_service(client: httpx.AsyncClient,
                                                    fitted: tuple[Path, Path, Path]) -> None:
    photos = fitted[2]
    ready = (await client.get("/ready")).json()
    assert ready["rejection"] is True and ready["index"] is True
    dark = (await client.post("/v1/identify", files=_upload(photos / "dark.jpg"))).json()
    assert dark["rejected"] is True and "too dark" in dark["reject_reason"]
    assert dark["decision"]["auto_validated"] is False
    kept = 0
    for pid, row in _rows(photos).items():
        if row["split"] == "test" and pid not in ("small", "dark"):
            body = (await client.post("/v1/identify", files=_upload(Path(row["path"])))).json()
            kept += not body["rejected"]
    assert kept >= 10  # of 15 known-colour test photos, at a 5% false-rejection threshold
    off = (await client.post("/v1/identify", files=_upload(photos / "dark.jpg"),
                             data={"no_reject": "true"})).json()
    assert off["rejected"] is False


async def test_similar_and_candidates_from_a_real_index(client: httpx.AsyncClient,
                                                        fitted: tuple[Path, Path, Path]) -> None:
    rows = _rows(fitted[2])
    train = [pid for pid, r in rows.items() if r["split"] == "train"]
    pid = train[0]
    r = await client.get("/v1/similar", params={"photo_id": pid, "k": 5})
    assert r.status_code == 200, r.text
    near = r.json()
    assert [n["rank"] for n in near] == [1, 2, 3, 4, 5]
    assert pid not in {n["photo_id"] for n in near}
    assert sum(n["label"] == rows[pid]["label"] for n in near) >= 4
    assert all(-1.0 <= n["similarity"] <= 1.0 for n in near)
    assert (await client.get("/v1/similar", params={"photo_id": "nope"})).status_code == 404
    bad = await client.get("/v1/similar", params={"photo_id": pid, "taxon": "purple"})
    assert bad.status_code == 422 and "purple" in bad.json()["detail"]
    body = (await client.post("/v1/identify",
                              files=_upload(Path(rows[pid]["path"])))).json()
    assert len(body["similar"]) == 5 and body["similar"][0]["photo_id"] == pid
    cand = await client.get("/v1/candidates", params={"taxon": "red", "min_score": 0.0})
    assert cand.status_code == 200, cand.text
    assert isinstance(cand.json(), list)


async def test_batch_reads_allowed_paths_and_urls(client: httpx.AsyncClient, web: str) -> None:
    answer = await client.post("/v1/identify/batch",
                               json=["p000.jpg", f"{web}/p001.jpg", f"{web}/missing.jpg",
                                     f"{web}/moved.jpg", f"{web}/manifest.csv"])
    assert answer.status_code == 200, answer.text
    first, second, missing, moved, text = answer.json()
    assert first["results"] and second["results"]
    assert missing == {"path": f"{web}/missing.jpg", "error": "http 404 not found"}
    assert "redirects are not followed" in moved["error"]
    assert text["path"].endswith("manifest.csv") and text["error"]
    for refused in (["https://example.org/a.jpg"], ["../outside.jpg"]):
        r = await client.post("/v1/identify/batch", json=refused)
        assert r.status_code == 403, r.text


async def test_batch_is_off_without_an_allow_option(fitted: tuple[Path, Path, Path]) -> None:
    app = create_app(fitted[0])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as c:
        r = await c.post("/v1/identify/batch", json=["http://127.0.0.1/a.jpg"])
        assert r.status_code == 403 and "--allow-hosts" in r.json()["detail"]
        assert (await c.get("/v1/similar", params={"photo_id": "p000"})).status_code == 404
