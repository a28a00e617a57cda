"""The review page's queues besides reverse search, on a real uvicorn (loopback) with a real
study: the photos a curation rule flagged (``--review-manifest``, a manifest built by
``dataset build`` with the ``label_noise`` and ``anomalies`` rules) and the observations
whose model decision was not auto-validated (``--review-identifications``, a real
``identify`` output). Verdicts go through ``POST /v1/reviews`` and leave the queue; bad
files stop the service with one line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from fieldguide.errors import InputError
from fieldguide.service import create_app
from tests.service.reviewing import ALICE, BOB, Queues, count, make_queues, serve_in_thread


@pytest.fixture(scope="module")
def queues(tmp_path_factory: pytest.TempPathFactory) -> Queues:
    return make_queues(tmp_path_factory.mktemp("queues"))


@pytest.fixture
def url(queues: Queues) -> Iterator[str]:
    s = queues.setup
    yield from serve_in_thread(create_app(s.model, index=s.index, study=s.study,
                                          reviewers=s.reviewers,
                                          review_manifest=queues.manifest,
                                          review_identifications=queues.identifications))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_flagged_queue_shows_reasons_and_suggestions_and_verdicts_leave_it(
        url: str, queues: Queues) -> None:
    study = queues.setup.study
    for path in ("queues", "flagged", "unvalidated", "photos/blue/r04"):
        assert httpx.get(f"{url}/v1/reviews/{path}").status_code == 401
    on = httpx.get(f"{url}/v1/reviews/queues", headers=bearer(ALICE)).json()
    assert on == {"taxon": True, "flagged": 3, "unvalidated": len(queues.unvalidated)}
    rows = httpx.get(f"{url}/v1/reviews/flagged", headers=bearer(ALICE)).json()
    assert [r["observation_id"] for r in rows] == ["blue/r04", "blue/r05", "green/g01"]
    first = rows[0]
    assert first["label"] == "blue" and first["suggested"] == "red"
    assert first["photo_ids"] == ["blue/r04"]
    assert first["reasons"] == ["label noise 0.95 (suggested red); anomaly 0.80"]
    assert rows[2]["suggested"] is None and rows[2]["reasons"] == ["anomaly 0.75"]
    photo = httpx.get(f"{url}/v1/reviews/photos/blue/r04?size=64", headers=bearer(ALICE))
    assert photo.status_code == 200 and photo.content[:2] == b"\xff\xd8"  # a JPEG
    # a study photo no queue shows is not served by this route
    other = httpx.get(f"{url}/v1/reviews/photos/red/r00", headers=bearer(ALICE))
    assert other.status_code == 404
    before = count(study, "SELECT count(*) FROM identifications")
    r = httpx.post(f"{url}/v1/reviews", headers=bearer(ALICE),
                   json={"observation_id": "blue/r04", "taxon": first["suggested"]})
    assert r.status_code == 201, r.text
    assert count(study, "SELECT count(*) FROM identifications") == before + 1
    assert count(study, "SELECT count(*) FROM identifications i JOIN taxa t USING (taxon_id) "
                 "WHERE user_id = 'alice' AND observation_id = 'blue/r04' AND is_current "
                 "AND t.name = 'red'") == 1
    left = httpx.get(f"{url}/v1/reviews/flagged?limit=1", headers=bearer(ALICE)).json()
    assert [r["observation_id"] for r in left] == ["blue/r05"]  # resumes after the verdict
    theirs = httpx.get(f"{url}/v1/reviews/flagged", headers=bearer(BOB)).json()
    assert len(theirs) == 3  # another reviewer still has it


def test_unvalidated_queue_lists_the_model_decisions_not_auto_validated(
        url: str, queues: Queues) -> None:
    rows = httpx.get(f"{url}/v1/reviews/unvalidated?limit=200", headers=bearer(BOB)).json()
    assert [r["observation_id"] for r in rows] == queues.unvalidated
    for row in rows:
        assert row["status"] in ("not validated", "no identification", "rejected")
        assert row["photo_ids"] == [row["observation_id"]]
        assert "probability" in row["remarks"]
    shown = rows[0]
    photo = httpx.get(f"{url}/v1/reviews/photos/{shown['photo_ids'][0]}",
                      headers=bearer(BOB))
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    r = httpx.post(f"{url}/v1/reviews", headers=bearer(BOB),
                   json={"observation_id": shown["observation_id"], "verdict": "unsure"})
    assert r.status_code == 201, r.text
    left = httpx.get(f"{url}/v1/reviews/unvalidated?limit=200", headers=bearer(BOB)).json()
    assert [r["observation_id"] for r in left] == queues.unvalidated[1:]


def test_read_flagged_refuses_bad_manifests_in_one_line(tmp_path: Path,
                                                         queues: Queues) -> None:
    from fieldguide.curation.manifest import read_flagged

    rows = read_flagged(queues.manifest)
    assert [r.photo_id for r in rows] == ["blue/r04", "blue/r05", "green/g01"]
    assert rows[0].path is not None and rows[0].path.is_file()
    with pytest.raises(InputError, match="no photo is flagged for review") as err:
        read_flagged(queues.unflagged)
    assert err.value.field == "needs_review"
    bad = tmp_path / "manifest.csv"
    bad.write_text("photo_id,path,observation_id,taxon,needs_review\n"
                   "a,a.jpg,a,blue,false\nb,b.jpg,b,blue,maybe\n")
    with pytest.raises(InputError) as err:
        read_flagged(bad)
    assert (err.value.line, err.value.field) == (3, "needs_review")
    bad.write_text("photo_id,path,observation_id,taxon,needs_review\na,a.jpg,,blue,true\n")
    with pytest.raises(InputError) as err:
        read_flagged(bad)
    assert (err.value.line, err.value.field) == (2, "observation_id")
    bad.write_text("photo_id,path,taxon,needs_review\na,a.jpg,blue,true\n")
    with pytest.raises(InputError, match="missing column 'observation_id'"):
        read_flagged(bad)


@pytest.mark.parametrize(("which", "needs"), [
    ("unflagged", "no photo is flagged for review"),
    ("foreign", "none of its 1 flagged observation(s) is in the study"),
    ("missing", "manifest"),
    ("no-study", "a review queue needs the review page"),
    ("identify-foreign", "none of its 1 not auto-validated observation(s)"),
])
def test_serve_refuses_a_bad_queue_file_in_one_line(tmp_path: Path, queues: Queues,
                                                    which: str, needs: str) -> None:
    from fieldguide.cli.main import app

    s = queues.setup
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("photo_id,path,observation_id,taxon,needs_review\n"
                       "x,x.jpg,elsewhere/x,blue,true\n")
    identified = tmp_path / "identified.csv"
    identified.write_text("observation_id,taxon,rank,probability,auto_validated\n"
                          "elsewhere/x,blue,,0.5,false\n")
    review = ["-s", str(s.study), "--reviewers", str(s.reviewers)]
    args = {"unflagged": [*review, "--review-manifest", str(queues.unflagged)],
            "foreign": [*review, "--review-manifest", str(foreign)],
            "missing": [*review, "--review-manifest", str(tmp_path / "none.parquet")],
            "no-study": ["--review-manifest", str(queues.manifest)],
            "identify-foreign": [*review, "--review-identifications", str(identified)],
            }[which]
    result = CliRunner().invoke(app, ["serve", str(s.model), "--port", "1", *args])
    assert result.exit_code == 2, result.output
    assert needs in result.output and len(result.output.strip().splitlines()) == 1


def test_workers_get_the_queue_files(queues: Queues, monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve --workers N`` passes --review-manifest and --review-identifications on."""
    from fieldguide.identification import IdentifyOptions
    from fieldguide.service import Settings
    from fieldguide.service.app import ENVIRONMENT, environment_json, from_environment

    s = queues.setup
    monkeypatch.setenv(ENVIRONMENT, environment_json(
        s.model, s.index, Settings(), IdentifyOptions(), s.study, s.reviewers,
        queues.manifest, queues.identifications))
    desk = from_environment().state.reviews
    assert [f.observation_id for f in desk.flagged] == ["blue/r04", "blue/r05", "green/g01"]
    assert [u.observation_id for u in desk.unvalidated] == queues.unvalidated
