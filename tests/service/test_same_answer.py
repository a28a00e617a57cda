"""``fieldguide identify`` and the service answer one observation alike, through the same
Identifier: real flower photos, a place, a date and an occurrence file that makes the
geofence matter (the photos' top vision class has no record near the place), the same
options given to both (the service's through ``FIELDGUIDE_SERVE``, as ``serve --workers``
passes them)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from fieldguide.cli.main import app as cli
from fieldguide.identification import IdentifyOptions
from fieldguide.service.app import ENVIRONMENT, environment_json, from_environment
from fieldguide.service.state import Settings
from tests.identification.conftest import CLASSES

pytestmark = pytest.mark.anyio

PLACE = (51.5, -0.1)  # near London
DATE = "2024-05-04"


def flower_photos(shared_data: Path) -> list[Path]:
    folder = shared_data / "images" / "oxford_flowers12" / "test"
    return [sorted((folder / label).glob("*.jpg"))[0] for label in ("daisy", "iris")]


async def serve_answer(model: Path, photos: list[Path], options: IdentifyOptions,
                       monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(ENVIRONMENT, environment_json(model, None, Settings(), options))
    transport = httpx.ASGITransport(app=from_environment())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
        r = await client.post("/v1/identify", files=files, data={
            "latitude": str(PLACE[0]), "longitude": str(PLACE[1]), "date": DATE})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def identify_answer(model: Path, photos: list[Path], tmp_path: Path,
                    args: list[str]) -> dict[str, str]:
    listing = tmp_path / "listing.csv"
    with listing.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["photo_id", "path", "observation_id", "latitude", "longitude",
                    "observed_on"])
        for i, p in enumerate(photos):
            w.writerow([f"p{i}", str(p), "obs", *PLACE, DATE])
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(cli, ["identify", str(model), str(listing), "-o", str(out),
                                      *args])
    assert result.exit_code == 0, result.output
    with (tmp_path / "out.observations.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1
    return rows[0]


def write_occurrences(path: Path, far: str) -> Path:
    """Records near the place for every class but ``far`` (recorded in Australia only)."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["taxon", "latitude", "longitude"])
        for c in CLASSES:
            w.writerow([c, *((-33.9, 151.2) if c == far else (PLACE[0] + 0.1, PLACE[1]))])
    return path


async def test_identify_and_the_service_give_the_same_answer(
        tiny_model: Path, shared_data: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    photos = flower_photos(shared_data)
    plain = await serve_answer(tiny_model, photos, IdentifyOptions(), monkeypatch)
    top = plain["results"][0]["taxon"]
    occurrences = write_occurrences(tmp_path / "occurrences.csv", far=top)
    options = IdentifyOptions(occurrences=occurrences, threshold=0.3, coarsest="kingdom")
    served = await serve_answer(tiny_model, photos, options, monkeypatch)
    row = identify_answer(tiny_model, photos, tmp_path,
                          ["--occurrences", str(occurrences), "--threshold", "0.3",
                           "--coarsest", "kingdom"])

    assert served["results"][0]["taxon"] != top, "the geofence should change the answer"
    assert row["taxon_1"] == served["results"][0]["taxon"]
    assert float(row["prob_1"]) == pytest.approx(served["results"][0]["score"], abs=1e-6)
    assert served["results"][0]["expected_nearby"] is True
    d = served["decision"]
    assert (row["taxon"] or None, row["rank"] or None) == (d["taxon"], d["rank"])
    assert float(row["probability"]) == pytest.approx(d["probability"], abs=1e-6)
    assert (row["auto_validated"] == "true") is d["auto_validated"]
    assert row["provenance"] == d["provenance"] and "prior:geofence" in d["provenance"]
    assert float(row["threshold"]) == pytest.approx(d["threshold"])
    # the tiny model's classes ("red", ...) have no rank of their own: a decision at the
    # class level names none, one rolled up names the rank it reached
    assert d["taxon"] is not None and d["rank"] in (None, "genus", "family", "kingdom")


async def test_a_class_placed_at_no_rank_is_not_called_a_species(
        tiny_model: Path, shared_data: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A decision that clears no rank has rank null in both (identify's empty cell)."""
    photos = flower_photos(shared_data)
    options = IdentifyOptions(threshold=1.0, coarsest="genus")
    served = await serve_answer(tiny_model, photos, options, monkeypatch)
    row = identify_answer(tiny_model, photos, tmp_path, ["--threshold", "1.0",
                                                         "--coarsest", "genus"])
    assert served["decision"]["taxon"] is None and served["decision"]["rank"] is None
    assert row["taxon"] == "" and row["rank"] == ""
    assert float(row["probability"]) == pytest.approx(served["decision"]["probability"],
                                                      abs=1e-6)


def test_serve_takes_identify_s_answer_changing_options() -> None:
    text = CliRunner().invoke(cli, ["serve", "--help"], env={"COLUMNS": "200"}).output
    for option in ("--occurrences", "--radius-km", "--threshold", "--finest", "--coarsest",
                   "--validate-rank", "--require-nearby"):
        assert option in text
    options = IdentifyOptions(threshold=0.5, finest="genus", occurrences=Path("o.csv"))
    assert IdentifyOptions.from_json(json.loads(json.dumps(options.to_json()))) == options
