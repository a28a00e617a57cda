"""The service against the real app and a real (tiny) ONNX model, in-process over httpx."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fieldguide.service import Settings, create_app
from tests.service.conftest import jpeg

pytestmark = pytest.mark.anyio
RED, GREEN, YELLOW = jpeg((230, 30, 20)), jpeg((30, 220, 40)), jpeg((170, 170, 20))


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
async def client(tiny_model: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(create_app(tiny_model, settings=Settings(max_bytes=10_000))) as c:
        yield c


def _files(*photos: bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("images", (f"{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos)]


async def test_identify_fields(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/identify", files=_files(RED), data={"k": "2"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["results"]) == 2
    top = body["results"][0]
    assert top["taxon"] == "red"
    assert top["rank"] is None  # its lineage names no rank for "red" itself (issue #21)
    assert top["lineage"] == {"genus": "Warm", "family": "Colour"}
    assert top["score"] == pytest.approx(top["vision_score"])
    assert top["prior_score"] is None and top["expected_nearby"] is None
    assert body["decision"]["taxon"] == "red"
    assert set(body["decision"]) == {"taxon", "rank", "probability", "auto_validated",
                                     "threshold", "provenance"}
    assert body["decision"]["threshold"] == 0.9 and body["decision"]["provenance"] == "vision"
    assert body["mass_outside"] is None
    assert body["common_ancestor"]["taxon"] in {"red", "Warm", "Colour"}
    assert body["rejected"] is False and body["reject_reason"] is None
    assert body["similar"] == []
    assert body["model"] == {"name": "model", "version": "1", "classes": 3}
    assert body["images"] == [{"index": 0, "filename": "0.jpg", "taxon": "red",
                               "score": pytest.approx(top["vision_score"]), "error": None}]
    assert sum(x["score"] for x in (await client.post(
        "/v1/identify", files=_files(RED), data={"k": "5"})).json()["results"]) == \
        pytest.approx(1.0)


async def test_multi_photo_observation(client: httpx.AsyncClient) -> None:
    """The photos' mean log-probability decides (combine_observations); a bad photo is a row."""
    body = (await client.post("/v1/identify", files=_files(RED, YELLOW, b"not an image"))).json()
    one = (await client.post("/v1/identify", files=_files(RED))).json()
    assert body["results"][0]["taxon"] == "red"
    assert body["results"][0]["score"] < one["results"][0]["score"]  # yellow is less sure
    assert body["images"][2]["error"] == "not an image"
    assert body["images"][0]["taxon"] == "red" and body["images"][1]["taxon"] is not None


async def test_taxon_filter(client: httpx.AsyncClient) -> None:
    body = (await client.post("/v1/identify", files=_files(RED),
                              data={"taxon": "Cool"})).json()
    assert {r["taxon"] for r in body["results"]} <= {"blue", "green"}
    assert sum(r["score"] for r in body["results"]) == pytest.approx(1.0)  # renormalised
    r = await client.post("/v1/identify", files=_files(RED), data={"taxon": "Nowhere"})
    assert r.status_code == 422 and "Nowhere" in r.json()["detail"]


async def test_taxa_and_within_restrict_and_report_the_mass_outside(
        client: httpx.AsyncClient) -> None:
    body = (await client.post("/v1/identify", files=_files(RED),
                              data={"taxa": "blue,\ngreen"})).json()
    assert {r["taxon"] for r in body["results"]} <= {"blue", "green"}
    assert sum(r["score"] for r in body["results"]) == pytest.approx(1.0)
    assert body["mass_outside"] > 0.5  # a red photo is mostly outside blue and green
    assert "restricted:checklist" in body["decision"]["provenance"]
    body = (await client.post("/v1/identify", files=_files(GREEN),
                              data={"within": "Cool"})).json()
    assert body["decision"]["taxon"] == "green"
    assert body["decision"]["provenance"].startswith("vision+restricted:within:Cool")
    for field, value in (("taxa", "blue,gren"), ("within", "Cooll")):
        r = await client.post("/v1/identify", files=_files(RED), data={field: value})
        assert r.status_code == 422 and "did you mean" in r.json()["detail"], r.text


async def test_prior_changes_the_ranking(tiny_model: Path, tiny_prior: Path) -> None:
    async with _client(create_app(tiny_model, prior=tiny_prior)) as c:
        plain = (await c.post("/v1/identify", files=_files(YELLOW))).json()
        europe = (await c.post("/v1/identify", files=_files(YELLOW),
                               data={"latitude": "50", "longitude": "10",
                                     "date": "2024-06-01"})).json()
        australia = (await c.post("/v1/identify", files=_files(YELLOW),
                                  data={"latitude": "-30", "longitude": "150"})).json()
        ready = (await c.get("/ready")).json()
    assert ready["prior"] is True
    assert europe["results"][0]["taxon"] == "green"
    assert australia["results"][0]["taxon"] == "red"
    assert plain["results"][0]["taxon"] != europe["results"][0]["taxon"] or \
        plain["results"][0]["taxon"] != australia["results"][0]["taxon"]
    top = europe["results"][0]
    assert top["prior_score"] is not None and top["expected_nearby"] is True
    assert top["score"] != pytest.approx(top["vision_score"])
    assert europe["decision"]["provenance"].startswith("vision+prior:")


async def test_lazy_prior_outputs_answer_as_dense_ones(
        tiny_model: Path, tiny_prior: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With more classes than the prior's TOP_K (lowered to 1 for the tiny model's colours)
    its score and nearby flags are lazy blocks; the answers equal those from dense blocks."""
    from fieldguide.identification.class_values import ClassValues
    from fieldguide.identification.posterior import PriorOutput
    from fieldguide.priors import prior as prior_module

    monkeypatch.setattr(prior_module, "TOP_K", 1)
    lazy_top = prior_module.PlaceSeasonPrior._apply_top
    places: tuple[dict[str, str], ...] = (
        {"latitude": "50", "longitude": "10", "date": "2024-06-01"},
        {"latitude": "-30", "longitude": "150"}, {})
    answers = []
    for densify in (False, True):
        def top(self: Any, *args: Any, densify: bool = densify) -> PriorOutput:
            out = lazy_top(self, *args)
            assert isinstance(out.score, ClassValues)
            assert isinstance(out.expected_nearby, ClassValues)
            if not densify:
                return out
            return PriorOutput(out.probs, out.score.dense(), out.expected_nearby.dense())

        monkeypatch.setattr(prior_module.PlaceSeasonPrior, "_apply_top", top)
        async with _client(create_app(tiny_model, prior=tiny_prior)) as c:
            answers.append([(await c.post("/v1/identify", files=_files(YELLOW, GREEN),
                                          data=data)).json() for data in places])
    lazy, dense = ([(a["results"], a["decision"]) for a in got] for got in answers)
    assert lazy == dense
    assert {r["expected_nearby"] for a in answers[0] for r in a["results"]} == {True, False}


BAD: list[tuple[str, dict[str, Any], int]] = [
    ("empty", {"files": _files(b"")}, 422),
    ("truncated", {"files": _files(RED[:40])}, 422),
    ("eleven", {"files": _files(*[RED] * 11)}, 422),
    ("huge", {"files": _files(b"x" * 10_001)}, 413),
    ("wrong field", {"files": [("photo", ("a.jpg", RED, "image/jpeg"))]}, 422),
    ("text lat", {"files": _files(RED), "data": {"latitude": "north", "longitude": "1"}}, 422),
    ("lat 999", {"files": _files(RED), "data": {"latitude": "999", "longitude": "1"}}, 422),
    ("one coord", {"files": _files(RED), "data": {"latitude": "10"}}, 422),
    ("2099", {"files": _files(RED), "data": {"date": "2099-01-01"}}, 422),
    ("bad date", {"files": _files(RED), "data": {"date": "yesterday"}}, 422),
    ("k 0", {"files": _files(RED), "data": {"k": "0"}}, 422),
    ("no body", {}, 422),
]


@pytest.mark.parametrize(("name", "request_", "status"), BAD, ids=[b[0] for b in BAD])
async def test_bad_requests(client: httpx.AsyncClient, name: str, request_: dict[str, Any],
                            status: int) -> None:
    r = await client.post("/v1/identify", **request_)
    assert r.status_code == status, r.text
    assert isinstance(r.json()["detail"], str) and r.json()["detail"]


async def test_taxa_health_ready_metrics_page(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/ready")).json()["ready"] is True
    assert (await client.get("/v1/taxa/red")).json()["lineage"]["genus"] == "Warm"
    assert (await client.get("/v1/taxa/purple")).status_code == 404
    assert [t["taxon"] for t in (await client.get("/v1/taxa", params={"q": "cool"})).json()] \
        == ["blue", "green"]
    assert (await client.get("/v1/taxa")).status_code == 422
    await client.post("/v1/identify", files=_files(RED))
    text = (await client.get("/metrics")).text
    assert 'fieldguide_requests_total{route="/v1/identify",status="200"}' in text
    assert "fieldguide_batch_size_count" in text and "fieldguide_queue_depth" in text
    page = await client.get("/")
    assert page.status_code == 200 and "Identify" in page.text
    assert (await client.get("/app.js")).status_code == 200
    assert "/v1/identify" in (await client.get("/openapi.json")).json()["paths"]
    assert (await client.get("/v1/candidates", params={"taxon": "red"})).status_code == 404
    r = await client.post("/v1/identify/batch", json=["a.jpg"])
    assert r.status_code == 403


async def test_one_log_line_and_metrics_per_request(client: httpx.AsyncClient,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fieldguide.service")
    assert (await client.post("/v1/identify", files=_files(RED, GREEN))).status_code == 200
    assert (await client.get("/v1/taxa/purple")).status_code == 404
    lines = [json.loads(r.getMessage()) for r in caplog.records
             if r.name == "fieldguide.service"]
    assert [(x["route"], x["method"], x["status"], x["images"]) for x in lines] == [
        ("/v1/identify", "POST", 200, 2), ("/v1/taxa/{taxon}", "GET", 404, None)]
    assert isinstance(lines[0]["rejected"], bool) and lines[0]["ms"] > 0
    text = (await client.get("/metrics")).text
    assert 'fieldguide_requests_total{route="/v1/taxa/{taxon}",status="404"} 1.0' in text


async def test_batch_paths(tiny_model: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "r.jpg").write_bytes(RED)
    (photos / "bad.jpg").write_bytes(b"nope")
    async with _client(create_app(tiny_model, settings=Settings(allow_paths=photos))) as c:
        body = (await c.post("/v1/identify/batch", json=["r.jpg", "bad.jpg"])).json()
        escape = await c.post("/v1/identify/batch", json=["../model/model.json"])
        bad_json = await c.post("/v1/identify/batch", content=b"[not json",
                                headers={"content-type": "application/json"})
    assert body[0]["results"][0]["taxon"] == "red"
    assert "not an image" in body[1]["error"]
    assert escape.status_code == 403 and "outside" in escape.json()["detail"]
    assert bad_json.status_code == 422 and bad_json.json()["detail"]


async def test_full_queue_is_503(tiny_model: Path) -> None:
    app = create_app(tiny_model, settings=Settings(max_queue=1, wait_ms=50))
    async with _client(app) as c:
        import asyncio

        got = await asyncio.gather(*(c.post("/v1/identify", files=_files(RED))
                                     for _ in range(8)))
    codes = sorted(r.status_code for r in got)
    assert 200 in codes and 503 in codes
    busy = next(r for r in got if r.status_code == 503)
    assert busy.headers["retry-after"] == "1" and busy.json()["detail"]


def test_service_never_imports_torch(tiny_model: Path) -> None:
    import subprocess
    import sys

    from tests.notorch import NO_TORCH

    code = (NO_TORCH + "from fieldguide.service import create_app\n"
            f"app = create_app({str(tiny_model)!r})\n"
            "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


class _RejectAll:
    """A Rejector (identification.protocols) that rejects every photo: checks the wiring only;
    a fitted rejection is tested in tests/service/test_index_and_rejection.py."""

    outputs = ("logits",)

    def reject(self, outputs: dict[str, Any], ok: Any) -> Any:
        import numpy as np

        from fieldguide.identification.protocols import Rejection

        n = len(ok)
        return Rejection(np.ones(n), np.ones(n, dtype=bool), ["unknown taxon"] * n)


async def test_rejected_is_200_with_the_flag(tiny_model: Path) -> None:
    app = create_app(tiny_model)
    app.state.service.rejector = _RejectAll()
    async with _client(app) as c:
        body = (await c.post("/v1/identify", files=_files(RED))).json()
        kept = (await c.post("/v1/identify", files=_files(RED),
                             data={"no_reject": "true"})).json()
        text = (await c.get("/metrics")).text
    assert body["rejected"] is True and body["reject_reason"] == "unknown taxon"
    assert body["decision"]["auto_validated"] is False and body["results"]
    assert kept["rejected"] is False
    assert "fieldguide_rejections_total 1.0" in text
