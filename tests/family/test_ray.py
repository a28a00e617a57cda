"""Every front end takes a family: ``identify --engine ray`` (the actors open the family
folder and the same source's members) and ``index build`` (local and on Ray) give what the
local engine gives, on a local Ray (2 CPUs, no dashboard)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fieldguide.cli.main import app

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture
def listing(flowers: Path, tmp_path: Path) -> Path:
    out = tmp_path / "photos.csv"
    with out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["photo_id", "path", "label"])
        for path in sorted((flowers / "test").glob("*/*.jpg"))[::20]:
            w.writerow([path.name, path, path.parent.name])
    return out


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as fh:
        return {r["photo_id"]: r for r in csv.DictReader(fh)}


def test_identify_family_on_ray(local_ray: None, family: Path, listing: Path,
                                tmp_path: Path) -> None:
    """The same answers, probabilities and members on Ray as locally, for a source."""
    for engine in ("local", "ray"):
        done = CliRunner().invoke(app, [
            "identify", str(family), str(listing), "-o", str(tmp_path / engine / "ids.csv"),
            "--source", "meadow", "--engine", engine, "--actors", "1", "--threads", "1",
            "--chunk-size", "8"])
        assert done.exit_code == 0, done.output
    local, remote = (_rows(tmp_path / e / "ids.csv") for e in ("local", "ray"))
    assert local.keys() == remote.keys() and len(local) >= 10
    for pid, row in local.items():
        assert remote[pid]["taxon_1"] == row["taxon_1"]
        assert remote[pid]["members"] == row["members"]
        assert row["members"].startswith("main@meadow:")
        assert float(remote[pid]["prob_1"]) == pytest.approx(float(row["prob_1"]), abs=1e-5)


def test_index_build_with_a_family(local_ray: None, family: Path, listing: Path,
                                   tmp_path: Path) -> None:
    """`index build FAMILY`: the shared encoder's vectors and the family's answers, the
    same on Ray; `similar` then finds a photo itself first."""
    from fieldguide.search import open_index

    for engine in ("local", "ray"):
        done = CliRunner().invoke(app, [
            "index", "build", str(family), str(listing), "-o", str(tmp_path / engine),
            "--engine", engine, "--actors", "1", "--threads", "1", "--chunk-size", "8"])
        assert done.exit_code == 0, done.output
    a, b = open_index(tmp_path / "local"), open_index(tmp_path / "ray")
    ids_a, ids_b = list(a.column("photo_id")), list(b.column("photo_id"))
    assert sorted(ids_a) == sorted(ids_b) and len(ids_a) >= 10
    order = np.array([ids_b.index(p) for p in ids_a])
    np.testing.assert_allclose(a.vectors(np.arange(len(ids_a))), b.vectors(order), atol=1e-5)
    query = next(iter(_rows(listing).values()))["path"]
    done = CliRunner().invoke(app, ["similar", str(tmp_path / "local"), query, "--json",
                                    "-k", "1"])
    assert done.exit_code == 0, done.output
    assert Path(query).name in done.stdout
