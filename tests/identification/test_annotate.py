"""Batch identification end to end on the tiny colour model: inputs, outputs, bad files,
observations, geofence, resume bookkeeping and the command line."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.identification.conftest import write_photos
from tests.models.test_pixels import png_header_only
from typer.testing import CliRunner

from fieldguide.cli.main import app
from fieldguide.errors import InputError
from fieldguide.identification import (
    Classifier,
    Geofence,
    Rule,
    RunOptions,
    annotate,
    combine_observations,
    finish,
    read_photos,
)


def listing(tmp_path: Path, n: int = 9) -> Path:
    """n colour photos in 3 observations, plus one of each kind of bad file."""
    rows = [(f"ph{i}", path, f"obs{i % 3}", label)
            for i, (path, label) in enumerate(write_photos(tmp_path / "img", n))]
    (tmp_path / "img" / "text.jpg").write_text("hello")
    (tmp_path / "img" / "empty.jpg").write_bytes(b"")
    png_header_only(tmp_path / "img" / "bomb.png", 50_000, 50_000)
    rows += [("bad1", "img/missing.jpg", "obsX", ""), ("bad2", "img/text.jpg", "obsX", ""),
             ("bad3", "img/empty.jpg", "obsY", ""), ("bad4", "img/bomb.png", "obsY", "")]
    out = tmp_path / "photos.csv"
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["photo_id", "path", "observation_id", "label"])
        w.writerows(rows)
    return out


def test_annotate_rows_errors_and_observations(tmp_path: Path, tiny_model: Path) -> None:
    photos = read_photos(listing(tmp_path))
    model = Classifier(tiny_model, threads=1)
    got = annotate(photos, model, tmp_path / "work", rule=Rule(threshold=0.6), top_k=2,
                   options=RunOptions(batch_size=4, chunk_size=5))
    rows = got.photos.to_pylist()
    assert [r["photo_id"] for r in rows] == photos.photo_id
    good = [r for r in rows if r["error"] is None]
    assert len(good) == 9 and all(r["taxon_1"] == r["label"] for r in good)
    errors = {r["photo_id"]: r["error"] for r in rows if r["error"]}
    assert errors["bad1"] == "missing file" and errors["bad2"] == "not an image"
    assert errors["bad4"].startswith("decompression bomb")
    assert all(r["taxon"] is None and r["auto_validated"] is False for r in rows if r["error"])
    obs = {r["observation_id"]: r for r in got.observations.to_pylist()}
    assert obs["obsY"]["n_photos"] == 0 and obs["obsY"]["taxon_1"] is None
    assert obs["obs0"]["n_photos"] == 3 and obs["obs0"]["taxon_1"] == "blue"


def test_observations_combine_by_mean_log_probability() -> None:
    p = np.array([[0.9, 0.1], [0.4, 0.6], [0.5, 0.5]])
    ids, probs, counts = combine_observations(np.log(p), ["a", "a", "b"],
                                              np.array([True, True, False]))
    geo = np.sqrt(p[0] * p[1])
    assert ids == ["a", "b"] and counts.tolist() == [2, 0]
    np.testing.assert_allclose(probs[0], geo / geo.sum())
    assert np.isnan(probs[1]).all()


def test_geofence_moves_the_decision(tmp_path: Path, tiny_model: Path) -> None:
    photos = read_photos(listing(tmp_path, 1))  # one blue photo (and the bad files)
    photos.latitude[:] = 52.0
    photos.longitude[:] = 5.0
    occ = Geofence(["green", "nowhere"], np.array([52.01, 0.0]), np.array([5.0, 0.0]), 10.0)
    got = annotate(photos, Classifier(tiny_model, 1), tmp_path / "w", rule=Rule(threshold=0.0),
                   priors=[occ])
    assert got.photos.column("taxon_1").to_pylist()[0] == "green"


def test_resume_refuses_parts_of_another_run(tmp_path: Path, tiny_model: Path) -> None:
    photos = read_photos(listing(tmp_path))
    model = Classifier(tiny_model, 1)
    annotate(photos, model, tmp_path / "w", rule=Rule(), options=RunOptions(chunk_size=4))
    with pytest.raises(InputError, match="another run"):
        annotate(photos, model, tmp_path / "w", rule=Rule(), options=RunOptions(chunk_size=5))


def test_folder_input_and_parquet_output(tmp_path: Path, tiny_model: Path) -> None:
    write_photos(tmp_path / "img", 4)
    photos = read_photos(tmp_path / "img")
    assert photos.photo_id == ["p0000.jpg", "p0001.jpg", "p0002.jpg", "p0003.jpg"]
    got = annotate(photos, Classifier(tiny_model, 1), tmp_path / "w", rule=Rule())
    out, obs = finish(got, tmp_path / "out" / "ids.parquet", tmp_path / "w")
    assert pq.read_table(out).num_rows == 4 and obs.name == "ids.observations.parquet"
    assert not (tmp_path / "w").exists()


def test_cli_identify_calibrate_quantise(tmp_path: Path, tiny_model: Path) -> None:
    source = listing(tmp_path, 30)
    runner = CliRunner()
    res = runner.invoke(app, ["calibrate", str(tiny_model), str(source), "--split", "val"])
    assert res.exit_code == 2 and "no 'split' column" in res.output
    res = runner.invoke(app, ["identify", str(tiny_model), str(source), "-o",
                              str(tmp_path / "o.csv"), "--threshold", "0.8"])
    assert res.exit_code == 0, res.output
    assert "top-1 1.0000 on 30 labelled photos" in res.output and "| 0.90 |" in res.output
    with (tmp_path / "o.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 34
    res = runner.invoke(app, ["quantise", str(tiny_model), "--method", "dynamic"])
    assert res.exit_code == 0, res.output
    assert (tiny_model / "model.int8.onnx").is_file()


def test_identification_never_imports_torch() -> None:
    code = ("import sys, fieldguide.identification, fieldguide.identification.quantise, "
            "fieldguide.cli.identify; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_study_input_reads_photos_with_locations(tmp_path: Path) -> None:
    from fieldguide.store import Study

    (path, _), = write_photos(tmp_path / "study" / "img", 1)
    with Study(tmp_path / "study") as s, s.transaction() as con:
        con.execute("INSERT INTO photos (photo_id, observation_id, position, path) VALUES "
                    "('p1', 'o1', 0, 'img/p0000.jpg'), ('p0', 'o1', 1, ?)", [path])
        con.execute("INSERT INTO observations (observation_id, source, latitude, longitude) "
                    "VALUES ('o1', 'test', 52.0, 5.0)")
    photos = read_photos(tmp_path / "study")
    assert photos.photo_id == ["p1", "p0"] and photos.path == [path, path]
    assert photos.latitude.tolist() == [52.0, 52.0] and photos.observation_id == ["o1", "o1"]


def test_a_folder_keeps_every_file_with_an_error_row_for_what_cannot_be_read(
        tmp_path: Path, tiny_model: Path) -> None:
    """`identify FOLDER` lists a HEIC photo and a stray file too, each with its error row,
    instead of leaving them out (issue #24); hidden files are not photos."""
    folder = tmp_path / "img"
    write_photos(folder, 2)
    (folder / "IMG_0001.HEIC").write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64)
    (folder / "notes.txt").write_text("not a photo\n")
    (folder / ".DS_Store").write_bytes(b"\0" * 16)
    out = tmp_path / "o.csv"
    res = CliRunner().invoke(app, ["identify", str(tiny_model), str(folder), "-o", str(out)])
    assert res.exit_code == 0, res.output
    with out.open() as f:
        rows = {r["photo_id"]: r for r in csv.DictReader(f)}
    assert sorted(rows) == ["IMG_0001.HEIC", "notes.txt", "p0000.jpg", "p0001.jpg"]
    assert "HEIC" in rows["IMG_0001.HEIC"]["error"] and rows["notes.txt"]["error"]
    assert not rows["p0000.jpg"]["error"] and rows["p0000.jpg"]["taxon_1"]
