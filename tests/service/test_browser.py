"""The identify page in Debian's chromium driven by Playwright (nothing downloaded by
Playwright), against a real ``fieldguide serve`` on 127.0.0.1: the world map draws land and
takes a click, the keyboard and typed coordinates; chosen photos show as thumbnails; each
suggestion shows reference photos served by the service from its index; a class with no rank
shows none; the decision reads in plain words; the page fits a phone, keeps a sensible focus
order and WCAG AA contrast; no request leaves 127.0.0.1.

Screenshots (390x844 and 1280x800) are kept in ``$FIELDGUIDE_SCREENSHOTS`` when set, else in
the test's pytest temporary folder (``screenshots/``); the test prints where.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from fieldguide.identification.rejector_fit import fit_model_rejector
from fieldguide.search import build, read_source
from fieldguide.service.references import WORLD_MAP_ENV, world_map
from tests.identification.test_reject import colour_manifest
from tests.search.conftest import write_tiny_model
from tests.service.conftest import write_tiny_prior

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
LAND = (194, 214, 168)  # worldmap.js COLOURS.land
MARKER = (200, 16, 46)  # worldmap.js COLOURS.marker


def _need_chromium() -> None:
    if not Path(CHROMIUM).is_file():
        print(f"SKIP reason: {CHROMIUM} missing (scripts/setup.sh installs the chromium package)")
        pytest.skip(f"{CHROMIUM} missing: install Debian's chromium package")


def test_page_identifies_a_flower(served: str, shared_data: Path, tmp_path: Path) -> None:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    photo = next((shared_data / "images/oxford_flowers12/test").glob("*/*.jpg"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(served + "/")
            page.set_input_files("#images", str(photo))
            page.fill("#latitude", "51.5")
            page.fill("#longitude", "-0.1")
            page.focus("button[type=submit]")
            page.keyboard.press("Enter")  # the keyboard alone submits
            page.wait_for_selector("#suggestions li.suggestion", timeout=20_000)
            suggestions = page.locator("#suggestions li.suggestion").all_inner_texts()
            decision = page.inner_text("#decision")
            width = page.evaluate("document.documentElement.scrollWidth")
            page.screenshot(path=str(tmp_path / "page-390x844.png"), full_page=True)
        finally:
            browser.close()
    assert suggestions and all("%" in s for s in suggestions)
    assert any(c in suggestions[0] for c in ("red", "green", "blue"))
    assert "genus" in suggestions[0]  # lineage shown
    assert decision.startswith(("Auto-validated: ", "Confident", "Needs review: ",
                                "Not recognised: "))
    assert "surest" not in decision
    assert width <= 390, "the page scrolls sideways on a phone"
    assert (tmp_path / "page-390x844.png").stat().st_size > 1000


@pytest.fixture(scope="module")
def page_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``fieldguide serve`` (a subprocess on a free loopback port) with the tiny colour model,
    its fitted rejection, a prior expecting green near (50, 10) and an index over its train
    photos; yields its URL and the photo folder."""
    root = tmp_path_factory.mktemp("page")
    model = write_tiny_model(root / "model")
    manifest = colour_manifest(root / "photos")
    fit_model_rejector(model, manifest, threads=1)
    build(model, read_source(manifest, "train"), root / "index", threads=1)
    prior = write_tiny_prior(root / "prior")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (root / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fieldguide.cli.main", "serve", str(model), "--prior", str(prior),
         "--index", str(root / "index"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (root / "serve.log").read_text()
            assert time.monotonic() < deadline, "fieldguide serve did not start"
            try:
                if httpx.get(url + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url, root / "photos"
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def test_photo_route_serves_indexed_photos_by_id_only(page_service: tuple[str, Path]) -> None:
    url, _ = page_service
    ok = httpx.get(url + "/v1/photos/p000", params={"size": 64})
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/jpeg"
    import io

    from PIL import Image

    assert max(Image.open(io.BytesIO(ok.content)).size) <= 64
    for bad in ("..%2F..%2Fetc%2Fpasswd", "p-none", "%2Fetc%2Fpasswd"):
        r = httpx.get(url + "/v1/photos/" + bad)
        assert r.status_code == 404 and "not in the index" in r.json()["detail"]
    assert httpx.get(url + "/v1/photos/p000", params={"size": 5000}).status_code == 422


def test_each_suggestion_has_reference_photos_of_its_taxon(
        page_service: tuple[str, Path]) -> None:
    url, photos = page_service
    files = [("images", ("p001.jpg", (photos / "p001.jpg").read_bytes(), "image/jpeg"))]
    body = httpx.post(url + "/v1/identify", files=files, timeout=30).json()
    assert len(body["results"]) == 3
    for r in body["results"]:
        refs = r["references"]
        assert 1 <= len(refs) <= 3
        assert all(ref["label"] == r["taxon"] for ref in refs)  # labelled inside the taxon
        sims = [ref["similarity"] for ref in refs]
        assert sims == sorted(sims, reverse=True)  # nearest the query first
    assert body["results"][0]["references"][0]["photo_id"] == "p001"  # the photo itself


def test_map_route_answers_404_without_the_file(tmp_path: Path, tiny_model: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from fieldguide.service import create_app

    monkeypatch.setenv(WORLD_MAP_ENV, str(tmp_path / "absent.json"))
    with TestClient(create_app(tiny_model)) as client:
        r = client.get("/v1/map/land")
    assert r.status_code == 404 and "scripts/setup.sh" in r.json()["detail"]


def _screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("FIELDGUIDE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


COUNT_PIXELS = """([r, g, b, tol]) => {
  const c = document.querySelector('#map canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    const near = (j, v) => Math.abs(d[i + j] - v) <= tol;
    if (near(0, r) && near(1, g) && near(2, b)) n++;
  }
  return n / (c.width * c.height);
}"""

PIXEL_AT = """([x, y]) => {
  const c = document.querySelector('#map canvas'), k = c.width / c.clientWidth;
  const at = c.getContext('2d').getImageData(Math.round(x * k), Math.round(y * k), 1, 1);
  return Array.from(at.data);
}"""

# The colours of each element and of the first opaque background behind it.
COLOURS = """(selector) => [...document.querySelectorAll(selector)]
    .filter(e => e.offsetParent).map(e => {
  let b = e, bg = 'rgba(0, 0, 0, 0)';
  while (b && (bg = getComputedStyle(b).backgroundColor).endsWith(', 0)')) b = b.parentElement;
  return [getComputedStyle(e).color, b ? bg : 'rgb(255, 255, 255)'];
})"""


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(v) for v in css[css.index("(") + 1:css.index(")")].split(",")[:3])


def contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (0-255)."""
    def luminance(c: tuple[float, ...]) -> float:
        lin = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
               for v in (x / 255 for x in c)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_formula() -> None:
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast((119, 119, 119), (255, 255, 255)) == pytest.approx(4.48, abs=0.01)


@contextlib.contextmanager
def _browser(url: str, viewport: dict[str, int]) -> Iterator[tuple[Page, list[str], list[str]]]:
    """A chromium page whose every request goes through a handler that lets only this
    service's URLs (and the page's own blob: and data: URLs) through; yields the page, the
    refused URLs and every URL requested."""
    from playwright.sync_api import Route, sync_playwright

    outside: list[str] = []
    requested: list[str] = []

    def only_loopback(route: Route) -> None:
        if route.request.url.startswith((url + "/", "blob:", "data:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport=viewport)  # type: ignore[arg-type]
            page.route("**/*", only_loopback)
            page.on("request", lambda r: requested.append(r.url))
            yield page, outside, requested
        finally:
            browser.close()


def _project(page: Page, lat: float, lon: float) -> tuple[float, float]:
    """Where (lat, lon) is on the map's canvas at the whole-world view (CSS pixels)."""
    w, h = page.evaluate("[...['clientWidth', 'clientHeight'].map("
                         "k => document.querySelector('#map canvas')[k])]")
    return w / 2 + lon * w / 360, h / 2 - lat * w / 360


def test_map(page_service: tuple[str, Path]) -> None:
    """Land drawn, a marker where the click was, the keyboard and typed coordinates move it,
    zoom; without the map file the page says so and still takes the place."""
    _need_chromium()
    if not world_map().is_file():
        print(f"SKIP reason: no world map at {world_map()} (scripts/setup.sh installs it)")
        pytest.skip(f"no world map at {world_map()}: run scripts/setup.sh")
    url, _ = page_service
    with _browser(url, {"width": 1280, "height": 800}) as (page, outside, _):
        page.goto(url + "/")
        # the land is drawn: a good share of the canvas is land-coloured
        page.wait_for_function(f"({COUNT_PIXELS})([{', '.join(map(str, LAND))}, 6]) > 0.1",
                               timeout=20_000)
        land = page.evaluate(COUNT_PIXELS, [*LAND, 6])
        no_marker = page.evaluate(COUNT_PIXELS, [*MARKER, 10])
        # a click sets the point (central Europe) and draws the marker there
        x, y = _project(page, 50, 10)
        page.click("#map canvas", position={"x": x, "y": y})
        clicked = (float(page.input_value("#latitude")), float(page.input_value("#longitude")))
        marker = page.evaluate(PIXEL_AT, [x, y])[:3]
        described = page.inner_text("#point")
        # the keyboard moves it; typed coordinates move it too
        page.focus("#map")
        page.keyboard.press("ArrowRight")
        keyed = float(page.input_value("#longitude"))
        page.fill("#latitude", "-30")
        page.fill("#longitude", "150")
        typed = page.evaluate(PIXEL_AT, list(_project(page, -30, 150)))[:3]
        left = page.evaluate(PIXEL_AT, [x, y])[:3]
        # zoom keeps the land drawn
        page.click("#zoom-in")
        zoomed = page.evaluate(COUNT_PIXELS, [*LAND, 6])
        page.click("#zoom-out")
        unzoomed = page.evaluate(COUNT_PIXELS, [*LAND, 6])

        # without the map file the page says so, and clicks still set the place
        page.route("**/v1/map/land", lambda r: r.fulfill(
            status=404, json={"detail": "no world map"}))
        page.goto(url + "/")
        page.wait_for_selector("#map-missing:not([hidden])")
        missing = page.inner_text("#map-missing")
        page.click("#map canvas", position={"x": 40, "y": 40})
        blind_latitude = page.input_value("#latitude")
    assert land > 0.1 and no_marker == 0
    assert clicked == (pytest.approx(50, abs=1), pytest.approx(10, abs=1))
    assert marker == list(MARKER), "no marker where the click was"
    assert "50." in described and "N" in described
    assert keyed > 20
    assert typed == list(MARKER) and left != list(MARKER), "typed coordinates did not move it"
    assert zoomed > 0.1 and unzoomed == pytest.approx(land, rel=0.05)
    assert "not available" in missing and blind_latitude
    assert not outside, f"requests left 127.0.0.1: {outside}"


def test_identify_page(page_service: tuple[str, Path], tmp_path: Path) -> None:
    """An upload on the page: thumbnail, suggestions with reference photos, no rank for a
    class without one, the decision in words; screenshots, phone width, contrast, focus
    order."""
    _need_chromium()
    url, photos = page_service
    shots = _screenshots(tmp_path)
    green = photos / "p001.jpg"  # colour_manifest: photo i is COLOURS[i % 3] (green for 1)
    with _browser(url, {"width": 1280, "height": 800}) as (page, outside, requested):
        page.goto(url + "/")
        if world_map().is_file():  # the screenshots show the map with its marker
            page.wait_for_function(f"({COUNT_PIXELS})([{', '.join(map(str, LAND))}, 6]) > 0.1",
                                   timeout=20_000)
        page.fill("#latitude", "50")
        page.fill("#longitude", "10")
        # the chosen photo shows as a thumbnail
        page.set_input_files("#images", str(green))
        page.wait_for_function("document.querySelector('#chosen img')?.naturalWidth > 0")
        page.click("#identify")
        page.wait_for_selector("#suggestions li.suggestion", timeout=20_000)
        suggestions = page.locator("#suggestions li.suggestion")
        # every reference photo has loaded (or failed) before sizes are read
        page.wait_for_function("[...document.querySelectorAll('.refs img')]"
                               ".every(i => i.complete)", timeout=20_000)
        cards: list[dict[str, Any]] = [suggestions.nth(i).evaluate(
            """li => ({name: li.querySelector('.name').textContent,
                      head: li.querySelector('.head').textContent,
                      ranks: li.querySelectorAll('.head .rank').length,
                      text: li.innerText,
                      refs: [...li.querySelectorAll('.refs img')].map(i => i.naturalWidth)})""")
            for i in range(suggestions.count())]
        decision = page.inner_text("#decision")
        page.screenshot(path=str(shots / "identify-1280x800.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(200)  # the map redraws at the new width
        width = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(shots / "identify-390x844.png"), full_page=True)
        colours = {s: page.evaluate(COLOURS, s) for s in (
            "h1", "h2", "label", "legend", ".note", "#decision", ".name", ".rank-label",
            ".lineage", ".prob", ".parts", ".badge", "figcaption", "button")}

        # focus order from the top: photos, map, its tools, coordinates, date, Identify
        page.goto(url + "/")
        order: list[str] = []
        for _ in range(14):
            page.keyboard.press("Tab")
            got = page.evaluate("document.activeElement.id")
            if not order or order[-1] != got:
                order.append(got)
        focus_ring = page.evaluate("getComputedStyle(document.activeElement).outlineColor")

        # the decision in plain words, for answers this model does not give here
        decide = page.evaluate("""async () => {
          const {decisionText} = await import('./common.js');
          const d = (taxon, rank, auto) => ({taxon, rank, probability: 0.95,
                                             auto_validated: auto});
          const none = d(null, null, false);
          return [
            decisionText({decision: d('Quercus virginiana', 'species', true),
                          common_ancestor: d('Quercus virginiana', 'species', true)}),
            decisionText({decision: d('Quercus', 'genus', false),
                          common_ancestor: d('Quercus', 'genus', false)}),
            decisionText({decision: d('bluebell', null, false), rejected: true,
                          reject_reason: 'unknown taxon', common_ancestor: none}),
            decisionText({decision: none, common_ancestor: d('Plantae', 'kingdom', false)})];
        }""")

    assert cards, "no suggestion"
    assert cards[0]["name"] == "green"
    for c in cards:
        assert c["ranks"] == 0 and "species" not in c["head"], "a no-rank class shows a rank"
        assert "%" in c["head"] and "genus" in c["text"]  # probability and lineage
        assert c["refs"] and any(w > 0 for w in c["refs"]), f"no reference photo for {c}"
    assert "Seen nearby" in cards[0]["text"]  # the prior expects green in Europe
    assert decision.startswith(("Auto-validated: green", "Confident")), decision
    assert width <= 390, "the page scrolls sideways on a phone"
    assert (shots / "identify-1280x800.png").stat().st_size > 10_000
    assert (shots / "identify-390x844.png").stat().st_size > 10_000
    low = [(s, fg, bg, round(contrast(_rgb(fg), _rgb(bg)), 2))
           for s, pairs in colours.items() for fg, bg in pairs
           if contrast(_rgb(fg), _rgb(bg)) < 4.5]
    assert not low, f"text below WCAG AA 4.5:1: {low}"
    assert contrast(_rgb(focus_ring), (250, 250, 247)) >= 3.0
    assert order[:10] == ["images", "map", "zoom-in", "zoom-out", "zoom-reset", "clear-point",
                          "latitude", "longitude", "date", "identify"], order
    assert decide == [
        "Auto-validated: Quercus virginiana", "Confident at genus: Quercus",
        "Not recognised: this photo does not look like anything the model was trained on "
        "(unknown taxon)", "Needs review: confident only at kingdom level: Plantae"]
    assert not outside, f"requests left 127.0.0.1: {outside}"
    assert requested and all(u.startswith((url + "/", "blob:", "data:")) for u in requested)
