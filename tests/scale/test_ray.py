"""The Ray engine on a local Ray (2 CPUs, no dashboard) against the local engine on real
flower photos: the same rows, labels and probabilities, and every row exactly once when an
actor dies mid-job. One Ray for the module: starting it is the slow part (~4 s)."""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from fieldguide.cli.main import app
from fieldguide.errors import InputError
from fieldguide.identification import Classifier, Rule, RunOptions, annotate, finish
from fieldguide.identification.inputs import read_photos
from fieldguide.identification.ray_engine import ChunkScorer, RayEngine, require_ray
from tests.identification.conftest import write_tiny_model

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow
OPTIONS = RunOptions(batch_size=8, chunk_size=16, decode_workers=1)
RULE = Rule(0.9, "species", "family", "species", False)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def listing(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 flower photos in observations of two, plus a photo that is not there (an error
    row) and one known only by URL."""
    root = shared_data / "images" / "oxford_flowers12"
    with (root / "labels.csv").open() as f:
        rows = [r for r in csv.DictReader(f)][::19][:50]
    out = tmp_path_factory.mktemp("listing") / "photos.csv"
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["photo_id", "path", "observation_id", "label", "url"])
        for i, r in enumerate(rows):
            w.writerow([f"p{i}", str(root / r["path"]), f"o{i // 2}", r["label"], ""])
        w.writerow(["gone", str(root / "no-such.jpg"), "o-gone", "", ""])
        w.writerow(["remote", "", "o-remote", "", "https://example.org/x.jpg"])
    return out


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Classifier:
    return Classifier(write_tiny_model(tmp_path_factory.mktemp("model")), threads=1)


def _by_id(table: pa.Table) -> dict[str, dict[str, object]]:
    return {r["photo_id"]: r for r in table.to_pylist()}


def _same(local: pa.Table, remote: pa.Table) -> None:
    """Same rows (as a set of ids), same labels and errors, probabilities to 1e-6."""
    a, b = _by_id(local), _by_id(remote)
    assert len(a) == local.num_rows and len(b) == remote.num_rows
    assert a.keys() == b.keys()
    for pid, row in a.items():
        other = b[pid]
        for key, value in row.items():
            if isinstance(value, float) and not np.isnan(value):
                assert other[key] == pytest.approx(value, abs=1e-6), (pid, key)
            elif isinstance(value, float):
                assert isinstance(other[key], float) and np.isnan(other[key]), (pid, key)
            else:
                assert other[key] == value, (pid, key)


def test_ray_matches_local(local_ray: None, listing: Path, model: Classifier,
                           tmp_path: Path) -> None:
    photos = read_photos(listing)
    local = annotate(photos, model, tmp_path / "local", rule=RULE, options=OPTIONS)
    engine = RayEngine(actors=2, threads=1)
    remote = annotate(photos, model, tmp_path / "ray", rule=RULE, options=OPTIONS,
                      scorer=engine)
    assert remote.scored == len(photos)
    _same(local.photos, remote.photos)
    _same(local.observations.rename_columns(
        ["photo_id", *local.observations.column_names[1:]]),
          remote.observations.rename_columns(
              ["photo_id", *remote.observations.column_names[1:]]))
    errors = {r["photo_id"]: r["error"] for r in remote.photos.to_pylist()}
    assert errors["gone"] and errors["remote"] and not errors["p0"]
    shards = sorted((tmp_path / "ray").glob("shard-*.parquet"))
    assert len(shards) == -(-len(photos) // OPTIONS.chunk_size)

    # A rerun finds every shard whole and scores nothing; a damaged shard is rescored.
    assert annotate(photos, model, tmp_path / "ray", rule=RULE, options=OPTIONS,
                    scorer=engine).scored == 0
    shards[1].write_bytes(b"not parquet")
    again = annotate(photos, model, tmp_path / "ray", rule=RULE, options=OPTIONS,
                     scorer=RayEngine(actors=1))
    assert again.scored == OPTIONS.chunk_size
    _same(local.photos, again.photos)
    out = finish(again, tmp_path / "out" / "ids.parquet", tmp_path / "ray")
    assert all(p.is_file() for p in out) and not (tmp_path / "ray").exists()


class Crashing(ChunkScorer):
    """Dies (the whole actor process) on its third batch, once per job: a marker in the model
    folder (which driver and actors share here) says a crash already happened, so the
    restarted actor carries on."""

    def __call__(self, batch: pa.Table) -> pa.Table:
        self.calls = getattr(self, "calls", 0) + 1
        marker = self.model.folder / "crashed"
        if self.calls == 3 and not marker.exists():
            marker.write_text(str(os.getpid()))
            os._exit(1)
        return super().__call__(batch)


def test_actor_killed_mid_job(local_ray: None, listing: Path, model: Classifier,
                              tmp_path: Path) -> None:
    photos = read_photos(listing)
    marker = model.folder / "crashed"
    marker.unlink(missing_ok=True)
    engine = RayEngine(actors=2, threads=1, actor=Crashing)
    result = annotate(photos, model, tmp_path / "ray", rule=RULE, options=OPTIONS,
                      scorer=engine)
    assert marker.is_file()
    marker.unlink()
    ids = result.photos.column("photo_id").to_pylist()
    assert sorted(ids) == sorted(photos.photo_id) and len(set(ids)) == len(ids)
    local = annotate(photos, model, tmp_path / "local", rule=RULE, options=OPTIONS)
    _same(local.photos, result.photos)


def test_cli_engine_ray(local_ray: None, listing: Path, model: Classifier,
                        tmp_path: Path) -> None:
    """`identify --engine ray` writes the same two files as the local engine."""
    from typer.testing import CliRunner

    runner = CliRunner()
    for engine in ("local", "ray"):
        out = tmp_path / engine / "ids.csv"
        got = runner.invoke(app, ["identify", str(model.folder), str(listing), "-o", str(out),
                                  "--engine", engine, "--actors", "1", "--threads", "1",
                                  "--chunk-size", "32"])
        assert got.exit_code == 0, got.output
        assert out.is_file() and out.with_name("ids.observations.csv").is_file()
    import pyarrow.csv as pcsv

    _same(pcsv.read_csv(tmp_path / "local" / "ids.csv"),
          pcsv.read_csv(tmp_path / "ray" / "ids.csv"))


def test_without_ray_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InputError, match=r"pip install 'fieldguide\[ray\]'"):
        require_ray()


def test_index_build_on_ray_matches_local(local_ray: None, listing: Path,
                                          tmp_path: Path) -> None:
    """`index build --engine ray` embeds through the actor pool: the same photos and vectors."""
    from typer.testing import CliRunner

    from fieldguide.search import open_index
    from tests.search.conftest import write_tiny_model as write_embedding_model

    model = write_embedding_model(tmp_path / "model")
    runner = CliRunner()
    for engine in ("local", "ray"):
        done = runner.invoke(app, ["index", "build", str(model), str(listing), "-o",
                                   str(tmp_path / engine), "--engine", engine,
                                   "--actors", "2", "--threads", "1", "--chunk-size", "16"])
        assert done.exit_code == 0, done.output
    a, b = open_index(tmp_path / "local"), open_index(tmp_path / "ray")
    ids_a, ids_b = list(a.column("photo_id")), list(b.column("photo_id"))
    assert sorted(ids_a) == sorted(ids_b) and len(ids_a) == 50
    order = [ids_b.index(p) for p in ids_a]
    rows = np.arange(len(ids_a))
    np.testing.assert_allclose(a.vectors(rows), b.vectors(np.array(order)), atol=1e-6)
