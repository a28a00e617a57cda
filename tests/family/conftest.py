"""The oxford12 family (specs/oxford12-family.toml), trained once per session through the real
CLI on the real flower photos: two groups of six classes (clades of the fixture taxonomy in
data/oxford12-lineage.csv) and two sources with different class frequencies
(data/oxford12-sources.csv)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fieldguide.cli.main import app

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "specs" / "oxford12-family.toml"


@pytest.fixture(scope="session")
def family(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    out = tmp_path_factory.mktemp("family") / "oxford12-family"
    done = CliRunner().invoke(app, ["train", str(SPEC), "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert "family at" in done.stdout
    return out


@pytest.fixture(scope="session")
def flowers(shared_data: Path) -> Path:
    return shared_data / "images" / "oxford_flowers12"
