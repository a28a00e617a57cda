"""Photos known only by URL (an export's manifest before ``photos fetch``): ``train`` and
``evaluate`` refuse before any work with one line naming the next command, and ``identify``
writes an error row per such photo, never a traceback (issue #9)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fieldguide.cli.main import app
from tests.training.conftest import tiny_spec
from tests.training.test_cli import _toml

pytest.importorskip("torch")


def _url_only(manifest: Path, out: Path, keep_local: int = 0) -> Path:
    """The manifest with its paths emptied (all but the first ``keep_local`` rows) and a URL."""
    with manifest.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for i, r in enumerate(rows):
        r["url"] = f"https://example.org/photos/{i}.jpg"
        if i >= keep_local:
            r["path"] = ""
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return out


def test_url_only_manifest(photos: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    urls = _url_only(photos, photos.parent / "urls.csv")
    spec = tmp_path / "url.toml"
    spec.write_text(_toml(tiny_spec(urls, tmp_path / "unused", mode="linear-probe")))
    done = runner.invoke(app, ["train", str(spec), "-o", str(tmp_path / "run")])
    assert done.exit_code != 0
    assert "only a URL" in done.output and "fieldguide photos fetch" in done.output
    assert "Traceback" not in done.output and not (tmp_path / "run/model").exists()

    good = tmp_path / "good.toml"
    good.write_text(_toml(tiny_spec(photos, tmp_path / "unused", mode="linear-probe",
                                    run={"export_onnx": True, "progress": False,
                                         "threads": 1})))
    assert runner.invoke(app, ["train", str(good), "-o", str(tmp_path / "ok")]).exit_code == 0
    model = tmp_path / "ok" / "model"
    done = runner.invoke(app, ["evaluate", str(model), str(urls), "-o", str(tmp_path / "ev")])
    assert done.exit_code != 0 and "fieldguide photos fetch" in done.output
    assert "Traceback" not in done.output

    mixed = _url_only(photos, photos.parent / "mixed.csv", keep_local=2)
    out = tmp_path / "ids.csv"
    done = runner.invoke(app, ["identify", str(model), str(mixed), "-o", str(out),
                               "--no-reject"])
    assert done.exit_code == 0, done.output
    assert "known only by URL" in done.output
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    with mixed.open(newline="") as f:
        n = sum(1 for _ in csv.DictReader(f))
    assert len(rows) == n
    errors = [r for r in rows if r["error"]]
    assert len(errors) == n - 2 and all("photos fetch" in r["error"] for r in errors)
    assert all(r["taxon"] == "" for r in errors)
