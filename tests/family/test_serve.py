"""``serve`` of a family on a real uvicorn on 127.0.0.1: per-source answers naming their
members, ``GET /v1/models``, and one member replaced while a load of requests runs (no failed
request; the new version is listed and answers afterwards)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from fieldguide.family import read_family_card, replace_member
from fieldguide.models.card import update_card
from fieldguide.service import create_app


@pytest.fixture
def served_family(family: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    import uvicorn

    folder = tmp_path / "family"
    shutil.copytree(family, folder)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(folder), host="127.0.0.1", port=port,
                            log_level="warning", timeout_keep_alive=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", folder
    server.should_exit = True
    thread.join(10)


def _photo(flowers: Path, name: str) -> bytes:
    return next((flowers / "test" / name).glob("*.jpg")).read_bytes()


def _stripes() -> bytes:
    """A photo like none of the flowers: blue stripes on black, with noise."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    stripes = np.zeros((320, 320, 3), np.uint8)
    stripes[:, ::16] = (20, 60, 230)
    stripes = np.clip(stripes + rng.normal(0, 25, stripes.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(stripes).save(out, format="JPEG", quality=92)
    return out.getvalue()


def test_per_source_models_and_swap_under_load(served_family: tuple[str, Path],
                                               flowers: Path, tmp_path: Path) -> None:
    url, folder = served_family
    daisy = _photo(flowers, "daisy")
    with httpx.Client(base_url=url, timeout=60) as client:
        listed = client.get("/v1/models").json()
        assert {m["name"] for m in listed} >= {"main", "main@garden", "daisies-and-buttercups"}
        assert all(m["classes"] and m["version"] and "val_top1" in m["metrics"]
                   and m["release_notes"] for m in listed)
        answers = {}
        for source in ("garden", "meadow", None):
            r = client.post("/v1/identify", files={"images": ("d.jpg", daisy, "image/jpeg")},
                            data={"source": source} if source else {})
            assert r.status_code == 200, r.text
            answers[source] = r.json()
        assert answers["garden"]["members"][0].startswith("main@garden:")
        assert answers["garden"]["members"][1].startswith("daisies-and-buttercups@garden:")
        assert answers["meadow"]["members"][1].startswith("daisies-and-buttercups@meadow:")
        assert answers[None]["members"][0].startswith("main:")
        assert answers["garden"]["results"][0]["taxon"] == "daisy"
        # garden's local name of the answer; meadow's own; none for the shared members
        assert answers["garden"]["local_name"] == "madeliefje"
        assert answers["garden"]["results"][0]["local_name"] == "madeliefje"
        assert answers["meadow"]["results"][0]["local_name"] == "meadow daisy"
        assert answers[None]["results"][0]["local_name"] is None
        # a daisy's group has no trait member; an iris's has one (its flowering stage)
        assert answers["garden"]["traits"] is None
        r = client.post("/v1/identify",
                        files={"images": ("i.jpg", _photo(flowers, "iris"), "image/jpeg")},
                        data={"source": "garden"})
        assert r.status_code == 200, r.text
        iris = r.json()
        assert iris["results"][0]["taxon"] == "iris"
        assert iris["members"][2].startswith("flowering:")
        stage = iris["traits"]["flowering_stage"]
        assert stage["value"] in ("in bud", "in flower") and 0.5 <= stage["probability"] <= 1
        # the family's rejection is applied: a daisy is no unknown, blue stripes are
        assert answers["garden"]["rejected"] is False
        r = client.post("/v1/identify", files={"images": ("s.jpg", _stripes(), "image/jpeg")},
                        data={"source": "garden"})
        assert r.status_code == 200 and r.json()["rejected"] is True, r.text
        bad = client.post("/v1/identify", files={"images": ("d.jpg", daisy, "image/jpeg")},
                          data={"source": "herbarium"})
        assert bad.status_code == 422 and "herbarium" in bad.text

    # a new version of garden's daisy member, swapped in while requests keep coming
    new = tmp_path / "retrained"
    shutil.copytree(folder / "members" / "daisies-and-buttercups@garden", new)
    update_card(new, version="2099.1")
    statuses: list[int] = []
    seen: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while not stop.is_set():
                r = client.post("/v1/identify",
                                files={"images": ("d.jpg", daisy, "image/jpeg")},
                                data={"source": "garden"})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    seen.append(r.json()["members"][1])

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(load) for _ in range(4)]
        time.sleep(1.0)
        replace_member(folder, "daisies-and-buttercups@garden", new, "retrained on more photos")
        time.sleep(1.5)
        stop.set()
        for f in futures:
            f.result()
    assert len(statuses) >= 8 and set(statuses) == {200}, statuses
    assert seen[-1] == "daisies-and-buttercups@garden:2099.1"
    with httpx.Client(base_url=url, timeout=60) as client:
        listed = {m["name"]: m for m in client.get("/v1/models").json()}
    member = listed["daisies-and-buttercups@garden"]
    assert member["version"] == "2099.1"
    assert member["release_notes"] == "retrained on more photos"
    assert read_family_card(folder).member("daisies-and-buttercups@garden").folder == \
        "members/daisies-and-buttercups@garden.2099.1"
