"""The review page in Debian's chromium driven by Playwright (nothing downloaded by
Playwright), against a real ``fieldguide serve -s STUDY --reviewers FILE`` on 127.0.0.1: ten
candidates judged with the keyboard write ten identifications into the study, a session
left half-way resumes without the observations already judged, and the flagged and not
auto-validated queues show their photos and evidence and take verdicts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.service.reviewing import (
    ALICE,
    ReviewSetup,
    count,
    free_port,
    make_queues,
    review_setup,
)

__all__ = ["review_setup"]  # the fixture, imported for pytest
CHROMIUM = "/usr/bin/chromium"


def serve(setup: ReviewSetup, port: int, log: Path, *more: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "fieldguide.cli.main", "serve", str(setup.model),
               "--index", str(setup.index), "-s", str(setup.study), "--reviewers",
               str(setup.reviewers), "--host", "127.0.0.1", "--port", str(port), *more]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   env=os.environ.copy())
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "fieldguide serve did not start"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)


def test_a_review_session_of_ten_writes_ten_identifications(
        review_setup: ReviewSetup, tmp_path: Path) -> None:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} missing: install Debian's chromium package")
    from playwright.sync_api import Page, sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = serve(review_setup, port, tmp_path / "serve.log")
    judged: list[str] = []
    outside: list[str] = []

    def current(page: Page) -> str:
        obs: str = page.get_attribute("#card", "data-observation") or ""
        return obs

    def judge(page: Page, key: str, other: str | None = None) -> None:
        before = current(page)
        judged.append(before)
        page.keyboard.press(key)
        if other is not None:
            page.fill("#other-taxon", other)
            page.keyboard.press("Enter")
        page.wait_for_function(
            "b => document.getElementById('card').dataset.observation !== b", arg=before)

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                context.route("**/*", lambda route: route.continue_()
                              if route.request.url.startswith(url)
                              else (outside.append(route.request.url), route.abort()))
                page = context.new_page()
                page.goto(f"{url}/review")
                page.fill("#token", ALICE)
                page.keyboard.press("Enter")
                page.wait_for_selector("#pick:not([hidden])")
                page.fill("#taxon", "re")  # the autocomplete offers the study's "red"
                page.wait_for_selector("#taxon-list option[value=red]", state="attached")
                page.fill("#taxon", "red")
                page.keyboard.press("Enter")
                page.wait_for_selector("#card:not([hidden])")
                page.wait_for_function("[...document.querySelectorAll('#card img')]"
                                       ".every(i => i.complete && i.naturalWidth > 0)")
                page.screenshot(path=str(tmp_path / "review-1280x800.png"), full_page=True)
                assert "Model's probability of red" in page.inner_text("#evidence")
                for key in ("a", "a", "u", "a", "a"):
                    judge(page, key)
                # leave and come back: token and taxon are remembered, judged ones are gone
                page.reload()
                page.wait_for_selector("#card:not([hidden])")
                assert current(page) not in judged
                skipped = current(page)
                page.keyboard.press("s")
                page.wait_for_function(
                    "b => document.getElementById('card').dataset.observation !== b",
                    arg=skipped)
                for key, other in (("a", None), ("t", "green"), ("a", None), ("u", None),
                                   ("a", None)):
                    judge(page, key, other)
                page.set_viewport_size({"width": 390, "height": 844})
                page.screenshot(path=str(tmp_path / "review-390x844.png"), full_page=True)
                width = page.evaluate("document.documentElement.scrollWidth")
            finally:
                browser.close()
    finally:
        process.terminate()
        process.wait(20)
    study = review_setup.study
    assert len(set(judged)) == 10 and skipped not in judged
    assert count(study, "SELECT count(*) FROM identifications WHERE user_id = 'alice'") == 10
    assert count(study, "SELECT count(*) FROM identifications WHERE user_id = 'alice' AND "
                 "label = 'red' AND is_current") == 7
    assert count(study, "SELECT count(*) FROM identifications WHERE user_id = 'alice' AND "
                 "label = 'green' AND is_current AND observation_id = ?", [judged[6]]) == 1
    assert count(study, "SELECT count(*) FROM identifications WHERE user_id = 'alice' AND "
                 "label = 'unsure' AND NOT is_current") == 2
    assert not outside, f"requests left 127.0.0.1: {outside}"
    assert width <= 390, "the review page scrolls sideways on a phone"
    assert (tmp_path / "review-390x844.png").stat().st_size > 1000


def test_flagged_and_unvalidated_queues_take_verdicts(tmp_path: Path) -> None:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} missing: install Debian's chromium package")
    from playwright.sync_api import Page, sync_playwright

    queues = make_queues(tmp_path / "setup")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = serve(queues.setup, port, tmp_path / "serve.log", "--review-manifest",
                    str(queues.manifest), "--review-identifications",
                    str(queues.identifications))
    outside: list[str] = []
    photos_loaded = ("[...document.querySelectorAll('#photos img')]"
                     ".every(i => i.complete && i.naturalWidth > 0)")

    def start(page: Page, kind: str) -> None:
        page.check(f"input[name=kind][value={kind}]")
        page.click("#pick button[type=submit]")
        page.wait_for_selector("#card:not([hidden])")
        page.wait_for_function(photos_loaded)

    def judge(page: Page, key: str, last: bool = False) -> None:
        before = page.get_attribute("#card", "data-observation")
        page.keyboard.press(key)
        if last:
            page.wait_for_selector("#done:not([hidden])")
        else:
            page.wait_for_function("b => document.getElementById('card').dataset"
                                   ".observation !== b", arg=before)
            page.wait_for_function(photos_loaded)

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                context.route("**/*", lambda route: route.continue_()
                              if route.request.url.startswith(url)
                              else (outside.append(route.request.url), route.abort()))
                page = context.new_page()
                page.goto(f"{url}/review")
                page.fill("#token", ALICE)
                page.keyboard.press("Enter")
                page.wait_for_selector("#kinds:not([hidden])")
                assert "(3 observations)" in page.inner_text("#kind-flagged-label")
                start(page, "flagged")
                evidence = page.inner_text("#evidence")
                assert "Suggested label" in evidence and "label noise 0.95" in evidence
                assert page.inner_text("#agree").endswith("Agree: blue")
                page.screenshot(path=str(tmp_path / "flagged-1280x800.png"), full_page=True)
                judge(page, "g")  # blue/r04: the suggested red
                judge(page, "a")  # blue/r05: keeps blue
                judge(page, "u", last=True)  # green/g01: unsure
                start(page, "unvalidated")
                assert "Status" in page.inner_text("#evidence")
                first = page.get_attribute("#card", "data-observation")
                judge(page, "u", last=len(queues.unvalidated) == 1)
            finally:
                browser.close()
    finally:
        process.terminate()
        process.wait(20)
    study = queues.setup.study

    def current(observation: str) -> int:
        return count(study, "SELECT count(*) FROM identifications WHERE user_id = 'alice' "
                     "AND is_current AND observation_id = ? AND label = ?",
                     [observation, {"blue/r04": "red", "blue/r05": "blue"}[observation]])

    assert current("blue/r04") == 1 and current("blue/r05") == 1
    assert count(study, "SELECT count(*) FROM identifications WHERE user_id = 'alice' AND "
                 "label = 'unsure' AND observation_id IN ('green/g01', ?)", [first]) == 2
    assert not outside, f"requests left 127.0.0.1: {outside}"
