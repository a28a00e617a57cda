"""A heads-only model (trained on embeddings) identifies and is evaluated through the CLI on an
embeddings Parquet file, through the same Identifier as photos; a photo model refuses
embeddings and a heads-only model refuses photos, each in one line, as do bad vectors."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fieldguide.embeddings import heads_only_outputs, read_embeddings
from fieldguide.identification.heads_only import HeadsOnlyModel
from tests.embeddings.conftest import cli, write_model, write_photos
from tests.embeddings.test_external import columns, spec, write


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A heads-only model and the embeddings Parquet it was trained on."""
    tmp = tmp_path_factory.mktemp("heads")
    source = write(tmp / "e.parquet", columns())
    out = cli("train", str(spec(tmp, source)))
    assert out.returncode == 0, out.stderr
    return tmp / "run" / "model", source


def _one_line(out: subprocess.CompletedProcess[str], *texts: str) -> None:
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for text in texts:
        assert text in lines[0], lines[0]


def test_identify_embeddings_writes_the_photo_columns(trained: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    model, source = trained
    out_csv = tmp_path / "out.csv"
    got = cli("identify", str(model), str(source), "--split", "test", "-o", str(out_csv))
    assert got.returncode == 0, got.stderr
    with out_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    data = read_embeddings(source)
    test = data.rows("test")
    assert [r["photo_id"] for r in rows] == [data.photo_id[i] for i in test]
    for name in ("photo_id", "observation_id", "error", "label", "taxon_1", "prob_1",
                 "taxon_3", "prob_3", "taxon", "rank", "probability", "auto_validated"):
        assert name in rows[0], name
    logits = heads_only_outputs(model, source, "test")["logits"]
    classes = HeadsOnlyModel(model).classes
    assert [r["taxon_1"] for r in rows] == [classes[j] for j in logits.argmax(1)]
    assert all(r["label"] == r["taxon_1"] for r in rows)  # well-separated clusters
    probs = np.array([[float(r[f"prob_{k}"]) for k in (1, 2, 3)] for r in rows])
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    per_obs = tmp_path / "out.observations.csv"
    assert per_obs.is_file() and len(per_obs.read_text().splitlines()) == len(rows) + 1
    assert "top-1" in got.stdout or "accuracy" in got.stdout.lower()


def test_evaluate_embeddings_writes_its_report(trained: tuple[Path, Path],
                                               tmp_path: Path) -> None:
    model, source = trained
    got = cli("evaluate", str(model), str(source), "-o", str(tmp_path / "ev"))
    assert got.returncode == 0, got.stderr
    assert "top-1 1.0000 on 6 photos" in got.stdout
    with (tmp_path / "ev" / "predictions.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and all(r["true"] == r["predicted"] for r in rows)
    assert any(p.suffix in (".md", ".html", ".json") for p in (tmp_path / "ev").iterdir())


def test_a_photo_model_refuses_embeddings_and_the_other_way(trained: tuple[Path, Path],
                                                            tmp_path: Path) -> None:
    model, source = trained
    photo_model = write_model(tmp_path / "photo")
    listing = write_photos(tmp_path / "photos", 6)
    out = tmp_path / "o.csv"
    _one_line(cli("identify", str(photo_model), str(source), "-o", str(out)),
              "this model takes photos, not embeddings")
    _one_line(cli("identify", str(model), str(listing), "-o", str(out)),
              "this model takes embeddings, not photos: give an embeddings Parquet or store")
    _one_line(cli("evaluate", str(model), str(listing), "-o", str(tmp_path / "ev")),
              "this model takes embeddings, not photos")
    _one_line(cli("evaluate", str(photo_model), str(source), "-o", str(tmp_path / "ev")),
              "this model takes photos, not embeddings")
    assert not out.exists()


@pytest.mark.parametrize("case", ["width", "nan", "no-embedding-rows", "empty-split",
                                  "no-photo-id"])
def test_bad_embeddings_are_refused_in_one_line(trained: tuple[Path, Path], tmp_path: Path,
                                                case: str) -> None:
    model, _ = trained
    cols = columns()
    expected: tuple[str, ...]
    if case == "width":
        cols = columns(width=6)
        expected = ("field 'embedding'", "vectors are 6 wide; the model takes 8")
    elif case == "nan":
        cols["embedding"][4] = cols["embedding"][4].copy()
        cols["embedding"][4][1] = np.nan
        expected = ("line 5, field 'embedding'", "NaN or infinite")
    elif case == "no-embedding-rows":
        cols["embedding"][2] = cols["embedding"][2][:5]
        expected = ("line 3, field 'embedding'",)
    elif case == "empty-split":
        cols["split"] = ["val" if s == "test" else s for s in cols["split"]]
        expected = ("field 'split'", "no row has split 'test'")
    else:
        del cols["photo_id"]
        expected = ("field 'photo_id': missing column",)
    source = write(tmp_path / f"{case}.parquet", cols, fixed=case != "no-embedding-rows")
    out = tmp_path / "o.csv"
    _one_line(cli("identify", str(model), str(source), "--split", "test", "-o", str(out)),
              str(source), *expected)
    assert not out.exists()



def test_calibrate_embeddings_fits_the_temperature(trained: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    import shutil

    from fieldguide.models.card import read_card

    model, source = trained
    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    got = cli("calibrate", str(copy), str(source))
    assert got.returncode == 0, got.stderr
    assert "T = " in got.stdout and "on 6 photos" in got.stdout
    card = read_card(copy)
    assert card.temperature is not None and card.metrics["calibration"]["n"] == 6
    _one_line(cli("calibrate", str(copy), str(write_photos(tmp_path / "p", 6))),
              "this model takes embeddings, not photos")


def test_reject_fit_reads_embeddings_from_a_store(tmp_path: Path) -> None:
    """``reject fit --store`` takes the photos' embeddings from a store built by ``fieldguide
    embed`` (and adds none: it holds them all): the same rejection as a fit on its own."""
    import shutil

    listing = write_photos(tmp_path / "photos", 60)
    first = write_model(tmp_path / "a")
    second = tmp_path / "b"
    shutil.copytree(first, second)
    store = tmp_path / "store"
    assert cli("embed", str(first), str(listing), "-o", str(store)).returncode == 0
    shards = sorted(p.name for p in (store / "shards").iterdir())
    assert cli("reject", "fit", str(first), str(listing)).returncode == 0
    got = cli("reject", "fit", str(second), str(listing), "--store", str(store))
    assert got.returncode == 0, got.stderr
    assert sorted(p.name for p in (store / "shards").iterdir()) == shards
    assert not (first / ".reject.parts").exists() and not (second / ".reject.parts").exists()
    with np.load(first / "rejection.npz") as a, np.load(second / "rejection.npz") as b:
        assert a.files == b.files
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name])
    card_a = json.loads((first / "model.json").read_text())["extras"]["rejection"]
    card_b = json.loads((second / "model.json").read_text())["extras"]["rejection"]
    assert card_a == card_b
