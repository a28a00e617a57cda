"""The web page in Debian's chromium driven by Playwright (nothing downloaded by Playwright):
upload a real flower photo, read the suggestions and the decision, on a phone-sized screen."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


def test_page_identifies_a_flower(served: str, shared_data: Path, tmp_path: Path) -> None:
    if not Path(CHROMIUM).is_file():
        print(f"SKIP reason: {CHROMIUM} missing (scripts/setup.sh installs the chromium package)")
        pytest.skip(f"{CHROMIUM} missing: install Debian's chromium package")
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
    assert "auto-validated" in decision or "needs review" in decision
    assert width <= 390, "the page scrolls sideways on a phone"
    assert (tmp_path / "page-390x844.png").stat().st_size > 1000
