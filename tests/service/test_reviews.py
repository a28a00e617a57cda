"""POST /v1/reviews and the review routes on a real uvicorn (loopback), a real study, index
and model: tokens, what one verdict writes, refusals that write nothing, two reviewers at
once, and the queue that resumes where a reviewer left off."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from fieldguide.errors import InputError
from fieldguide.service import create_app
from fieldguide.service.review import read_reviewers
from tests.service.reviewing import (
    ALICE,
    BOB,
    ReviewSetup,
    count,
    review_setup,
    serve_in_thread,
)

__all__ = ["review_setup"]  # the fixture, imported for pytest
ROWS = "SELECT count(*) FROM identifications"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def url(review_setup: ReviewSetup) -> Iterator[str]:
    s = review_setup
    yield from serve_in_thread(create_app(s.model, index=s.index, study=s.study,
                                          reviewers=s.reviewers))


@pytest.mark.parametrize(("text", "line", "field", "reason"), [
    ("alice\n", 1, None, "expected 'name token'"),
    ("# who\nalice 0123456789abcdef extra\n", 2, None, "found 3 word"),
    ("alice short\n", 1, "token", "shorter than 16"),
    ("alice 0123456789abcdef\nalice fedcba9876543210\n", 2, "name", "already named on line 1"),
    ("alice 0123456789abcdef\nbob 0123456789abcdef\n", 2, "token", "same token as line 1"),
    ("\n# nobody\n", None, None, "no reviewers"),
])
def test_a_bad_reviewers_line_is_one_error(tmp_path: Path, text: str, line: int | None,
                                           field: str | None, reason: str) -> None:
    path = tmp_path / "reviewers.txt"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_reviewers(path)
    assert (err.value.line, err.value.field) == (line, field)
    assert reason in err.value.reason and str(path) in str(err.value)


def test_tokens_name_their_reviewer(review_setup: ReviewSetup) -> None:
    reviewers = read_reviewers(review_setup.reviewers)
    assert reviewers.who(ALICE) == "alice" and reviewers.who(BOB) == "bob"
    assert reviewers.who(ALICE[:-1]) is None and reviewers.who("") is None
    assert ALICE.encode() not in b"".join(reviewers.digests)  # only digests are kept


def test_no_token_or_a_bad_one_is_401_and_writes_nothing(url: str,
                                                          review_setup: ReviewSetup) -> None:
    study = review_setup.study
    before = count(study, ROWS), count(study, "SELECT count(*) FROM imports")
    body = {"observation_id": review_setup.mislabelled[0], "taxon": "red"}
    for headers in ({}, bearer("not-a-reviewer-token-at-all"), {"Authorization": ALICE},
                    {"Authorization": f"Basic {ALICE}"}):
        r = httpx.post(f"{url}/v1/reviews", json=body, headers=headers)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{url}/v1/reviews/queue?taxon=red").status_code == 401
    assert (count(study, ROWS), count(study, "SELECT count(*) FROM imports")) == before


def test_a_verdict_is_one_identification(url: str, review_setup: ReviewSetup) -> None:
    study, obs = review_setup.study, review_setup.mislabelled[0]
    r = httpx.post(f"{url}/v1/reviews", json={"observation_id": obs, "taxon": "red"},
                   headers=bearer(ALICE))
    assert r.status_code == 201, r.text
    assert r.json()["reviewer"] == "alice" and r.json()["verdict"] == "taxon"
    rows = "SELECT count(*) FROM identifications i JOIN taxa t USING (taxon_id) WHERE " \
        "i.observation_id = ? AND user_id = ? AND t.name = ? AND is_current AND " \
        "created_at IS NOT NULL AND i.import_id IN (SELECT import_id FROM imports WHERE " \
        "kind = 'review')"
    assert count(study, rows, [obs, "alice", "red"]) == 1
    # unsure withdraws alice's vote (history kept) and is no vote itself
    r = httpx.post(f"{url}/v1/reviews", json={"observation_id": obs, "verdict": "unsure"},
                   headers=bearer(ALICE))
    assert r.status_code == 201 and r.json()["taxon"] is None
    assert count(study, ROWS + " WHERE observation_id = ? AND user_id = 'alice'", [obs]) == 2
    assert count(study, ROWS + " WHERE observation_id = ? AND is_current", [obs]) == 0
    r = httpx.post(f"{url}/v1/reviews", json={"observation_id": obs, "taxon": "green"},
                   headers=bearer(BOB))
    assert r.status_code == 201 and r.json()["reviewer"] == "bob"
    assert count(study, ROWS + " WHERE observation_id = ? AND is_current", [obs]) == 1


@pytest.mark.parametrize(("body", "message"), [
    ({"observation_id": "nowhere/x", "taxon": "red"}, "unknown observation 'nowhere/x'"),
    ({"observation_id": "red/r00", "taxon": "redd"}, "unknown taxon 'redd' (closest: red"),
    ({"observation_id": "red/r00"}, "either taxon or"),
    ({"observation_id": "red/r00", "taxon": "red", "verdict": "unsure"}, "either taxon or"),
    ({"observation_id": "red/r00", "verdict": "maybe"}, "verdict"),
    ({"observation_id": "red/r00", "taxon": "red", "user_id": "mallory"}, "user_id"),
])
def test_unknown_observation_or_taxon_is_422_and_writes_nothing(
        url: str, review_setup: ReviewSetup, body: dict[str, str], message: str) -> None:
    before = count(review_setup.study, ROWS)
    r = httpx.post(f"{url}/v1/reviews", json=body, headers=bearer(ALICE))
    assert r.status_code == 422 and message in r.json()["detail"], r.text
    assert count(review_setup.study, ROWS) == before


def test_two_reviewers_at_once_lose_nothing(url: str, review_setup: ReviewSetup) -> None:
    observations = review_setup.mislabelled
    before = count(review_setup.study, ROWS)
    start = threading.Barrier(2)
    answers: dict[str, list[int]] = {"alice": [], "bob": []}

    def review(name: str, token: str) -> None:
        with httpx.Client(base_url=url, headers=bearer(token), timeout=30) as client:
            start.wait()
            for obs in observations:
                r = client.post("/v1/reviews", json={"observation_id": obs, "taxon": "red"})
                answers[name].append(r.status_code)

    threads = [threading.Thread(target=review, args=a) for a in (("alice", ALICE),
                                                                ("bob", BOB))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert answers == {"alice": [201] * len(observations), "bob": [201] * len(observations)}
    study = review_setup.study
    assert count(study, ROWS) == before + 2 * len(observations)
    assert count(study, "SELECT count(DISTINCT import_id) FROM identifications i WHERE "
                 "import_id IN (SELECT import_id FROM imports WHERE kind = 'review')") == \
        2 * len(observations)
    for name in ("alice", "bob"):
        assert count(study, ROWS + " WHERE user_id = ? AND is_current", [name]) == \
            len(observations)


def test_the_queue_leaves_out_what_the_reviewer_judged(url: str,
                                                      review_setup: ReviewSetup) -> None:
    queue = httpx.get(f"{url}/v1/reviews/queue?taxon=red&limit=50", headers=bearer(ALICE))
    rows = queue.json()
    assert sorted(r["observation_id"] for r in rows) == sorted(review_setup.mislabelled)
    first = rows[0]
    assert first["relation"] == "different" and first["label"] == "blue"
    assert first["photo_ids"] == [first["observation_id"]]
    assert first["neighbours"] and all(n["label"] == "red" for n in first["neighbours"])
    photo = httpx.get(f"{url}/v1/photos/{first['photo_ids'][0]}")  # what the page shows
    assert photo.status_code == 200 and photo.content[:2] == b"\xff\xd8"
    httpx.post(f"{url}/v1/reviews", json={"observation_id": first["observation_id"],
                                          "verdict": "unsure"}, headers=bearer(ALICE))
    again = httpx.get(f"{url}/v1/reviews/queue?taxon=red&limit=50", headers=bearer(ALICE))
    assert first["observation_id"] not in {r["observation_id"] for r in again.json()}
    assert len(again.json()) == len(rows) - 1
    bobs = httpx.get(f"{url}/v1/reviews/queue?taxon=red&limit=50", headers=bearer(BOB))
    assert len(bobs.json()) == len(rows)  # each reviewer's own session
    taxa = httpx.get(f"{url}/v1/reviews/taxa?q=RE").json()
    assert taxa[0] == {"taxon": "red", "rank": None, "in_model": True}
    assert httpx.get(f"{url}/v1/reviews/queue?taxon=purple",
                     headers=bearer(ALICE)).status_code == 422


def test_reviews_are_off_without_a_study(review_setup: ReviewSetup) -> None:
    for url in serve_in_thread(create_app(review_setup.model)):
        r = httpx.post(f"{url}/v1/reviews", json={"observation_id": "x", "taxon": "red"},
                       headers=bearer(ALICE))
        assert r.status_code == 404 and "-s STUDY --reviewers FILE" in r.json()["detail"]
        assert httpx.get(f"{url}/review").status_code == 200  # the page says so itself


@pytest.mark.parametrize("args", [["--reviewers", "REVIEWERS"], ["-s", "STUDY"]])
def test_serve_wants_both_study_and_reviewers(review_setup: ReviewSetup,
                                              args: list[str]) -> None:
    from fieldguide.cli.main import app

    paths = {"REVIEWERS": str(review_setup.reviewers), "STUDY": str(review_setup.study)}
    result = CliRunner().invoke(app, ["serve", str(review_setup.model),
                                      *[paths.get(a, a) for a in args]])
    assert result.exit_code != 0
    assert "needs both a study (-s) and a reviewers file" in result.output


def test_workers_get_the_study_and_reviewers(review_setup: ReviewSetup,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve --workers N`` passes -s and --reviewers to each worker's app."""
    from fieldguide.identification import IdentifyOptions
    from fieldguide.service import Settings
    from fieldguide.service.app import ENVIRONMENT, environment_json, from_environment

    s = review_setup
    monkeypatch.setenv(ENVIRONMENT, environment_json(s.model, s.index, Settings(),
                                                     IdentifyOptions(), s.study, s.reviewers))
    desk = from_environment().state.reviews
    assert desk.root == s.study and desk.reviewers.who(BOB) == "bob"
