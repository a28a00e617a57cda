"""The commands end to end on a tiny ONNX model: build, add, similar, candidates, resume and
the clean errors for bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fieldguide.cli.main import app
from fieldguide.identification import RunOptions, read_photos
from fieldguide.search import build, open_index
from tests.identification.test_without_torch import BLOCK
from tests.search.conftest import write_tiny_model

runner = CliRunner()


def _run(*args: str | Path) -> tuple[int, str]:
    done = runner.invoke(app, [str(a) for a in args])
    return done.exit_code, done.output


def test_build_add_similar_candidates(tmp_path: Path, tiny_model: Path,
                                      colour_listing: Path) -> None:
    lines = colour_listing.read_text().splitlines()
    first = colour_listing.with_name("first.csv")
    first.write_text("\n".join(lines[:19]) + "\n")  # 18 photos
    code, out = _run("index", "build", tiny_model, first, "-o", tmp_path / "ix")
    assert code == 0, out
    assert "18 vectors (flat)" in out
    code, out = _run("index", "add", tmp_path / "ix", colour_listing)
    assert code == 0 and "30 vectors" in out and "12 photos embedded now" in out, out
    assert not any(p.name.startswith(".parts") for p in (tmp_path / "ix").iterdir())
    photo = colour_listing.parent / "p002.jpg"  # red
    code, out = _run("similar", tmp_path / "ix", photo, "-k", "3", "--json")
    assert code == 0, out
    rows = json.loads(out)
    assert [r["label"] for r in rows] == ["red"] * 3 and rows[0]["photo_id"] == "p002"
    code, out = _run("similar", tmp_path / "ix", photo, "-k", "4", "--taxon", "Cool", "--json")
    assert {r["label"] for r in json.loads(out)} <= {"blue", "green"}
    code, out = _run("similar", tmp_path / "ix", colour_listing, "-k", "2", "-o",
                     tmp_path / "sim.csv")
    assert code == 0 and "30 queries" in out, out
    with open(tmp_path / "sim.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 60
    # reverse search: relabel two red photos coarser / not at all, in a new index
    relabelled = colour_listing.read_text().replace("o002,red", "o002,Warm") \
        .replace("o005,red", "o005,")
    colour_listing.write_text(relabelled)
    code, out = _run("index", "build", tiny_model, colour_listing, "-o", tmp_path / "ix2")
    assert code == 0, out
    code, out = _run("candidates", tmp_path / "ix2", "--taxon", "red", "--min-score", "0.5",
                     "-o", tmp_path / "review.csv")
    assert code == 0 and "2 candidates" in out, out
    with open(tmp_path / "review.csv", newline="") as fh:
        got = list(csv.DictReader(fh))
    assert {r["photo_id"] for r in got} == {"p002", "p005"}
    assert {r["relation"] for r in got} == {"coarser", "none"}
    code, out = _run("candidates", tmp_path / "ix2", "--taxon", "red", "-o",
                     tmp_path / "again.csv", "--exclude-reviewed", tmp_path / "review.csv")
    assert code == 0 and "0 candidates" in out, out


def test_bad_input_is_one_clear_line(tmp_path: Path, tiny_model: Path,
                                     colour_listing: Path) -> None:
    assert _run("index", "build", tiny_model, colour_listing, "-o", tmp_path / "ix")[0] == 0
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a photo")
    code, out = _run("similar", tmp_path / "ix", broken)
    assert code == 2 and "broken.jpg: cannot use this query photo: not an image" in out, out
    code, out = _run("similar", tmp_path / "ix", colour_listing.parent / "p001.jpg", "--taxon",
                     "Wram")
    assert code == 2 and "unknown taxon 'Wram'" in out and "'Warm'" in out, out
    code, out = _run("candidates", tmp_path / "ix", "--taxon", "purple", "-o",
                     tmp_path / "r.csv")
    assert code == 2 and "unknown taxon 'purple'" in out, out
    other = write_tiny_model(tmp_path / "other", scale=5.0, name="tiny")
    code, out = _run("index", "add", tmp_path / "ix", colour_listing, "--model", other)
    assert code == 2 and "not comparable" in out, out
    code, out = _run("similar", tmp_path / "ix", broken, "--model", other)
    assert code == 2 and "not comparable" in out, out
    code, out = _run("index", "build", tiny_model, colour_listing, "-o", tmp_path / "ix")
    assert code == 2 and "already here" in out, out


def test_an_interrupted_build_resumes(tmp_path: Path, tiny_model: Path,
                                      colour_listing: Path) -> None:
    photos = read_photos(colour_listing)
    options = RunOptions(batch_size=4, chunk_size=8)

    def stop_after_two_chunks(done: int, rate: float) -> None:
        if done > 16:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build(tiny_model, photos, tmp_path / "ix", options=options,
              progress=stop_after_two_chunks)
    assert not (tmp_path / "ix" / "index.json").exists()
    done = build(tiny_model, photos, tmp_path / "ix", options=options)
    assert done.scored == 14 and len(done.index) == 30  # two chunks of 8 were kept
    assert open_index(tmp_path / "ix").column("photo_id") == photos.photo_id


def test_search_runs_without_torch(tmp_path: Path, tiny_model: Path,
                                   colour_listing: Path) -> None:
    """Search is on the torch-free side (the service and `pip install fieldguide` use it)."""
    photo = colour_listing.parent / "p001.jpg"
    for args in (["index", "build", tiny_model, colour_listing, "-o", tmp_path / "ix"],
                 ["similar", tmp_path / "ix", photo, "-k", "2", "--json"],
                 ["candidates", tmp_path / "ix", "--taxon", "Cool", "-o", tmp_path / "r.csv"]):
        done = subprocess.run([sys.executable, "-c", BLOCK, *map(str, args)],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr


def test_a_study_is_indexed_with_its_current_labels(tmp_path: Path, tiny_model: Path,
                                                    colour_listing: Path) -> None:
    """A study folder as the source: each photo carries its observation's current label (the
    study's taxon name, else the platform's verbatim name, else none)."""
    from fieldguide.store import Study

    root = tmp_path / "study"
    with Study(root) as s, s.transaction() as con:
        con.execute("INSERT INTO taxa (taxon_id, name, rank) VALUES (7, 'red', 'species')")
        for i, (taxon, verbatim) in enumerate([(7, None), (None, "Warm"), (None, None)]):
            con.execute("INSERT INTO observations (observation_id, source, taxon_id, "
                        "verbatim_name) VALUES (?, 'test', ?, ?)", [f"o{i}", taxon, verbatim])
            con.execute("INSERT INTO photos (photo_id, observation_id, position, path) VALUES "
                        "(?, ?, 0, ?)", [f"p{i}", f"o{i}",
                                         str(colour_listing.parent / f"p{3 * i + 2:03d}.jpg")])
    code, out = _run("index", "build", tiny_model, root, "-o", tmp_path / "ix")
    assert code == 0, out
    ix = open_index(tmp_path / "ix")
    assert ix.column("photo_id") == ["p0", "p1", "p2"]
    assert ix.column("label") == ["red", "Warm", ""]
    code, out = _run("candidates", tmp_path / "ix", "--taxon", "red", "-o", tmp_path / "r.csv")
    assert code == 0 and "2 candidates" in out, out
