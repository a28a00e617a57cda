"""BirdNET V2.4, the optional extra: the field recording that opensoundscape ships through
`fieldguide identify birdnet` (with BirdNET's location-and-week model as the prior), the
licence printed once and written in the card, and a probe on BirdNET embeddings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pytest

from fieldguide.models.card import read_card
from fieldguide.sound import birdnet
from fieldguide.sound.identify import identify_recordings
from fieldguide.sound.train import train_sound_probe
from tests.sound.conftest import RATE, call, sf, write_calls

REPO = Path(__file__).resolve().parents[2]
MISSING = birdnet.available()
if MISSING:
    print(f"BirdNET tests skipped: {MISSING}")
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"the sound extra: {MISSING}")
WOOD_WARBLERS = {"Setophaga", "Leiothlypis", "Cardellina", "Oporornis", "Geothlypis",
                 "Vermivora", "Parkesia", "Mniotilta", "Oreothlypis"}


def test_identify_birdnet_on_the_shipped_recording(tmp_path: Path, birds_10s: Path) -> None:
    listing = tmp_path / "listing.csv"
    listing.write_text("recording_id,path,latitude,longitude,observed_on\n"
                       f"birds,{birds_10s},42.48,-76.45,2021-05-20\n")
    out = tmp_path / "birdnet.csv"
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}",
           "FIELDGUIDE_CACHE": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-m", "fieldguide.cli.main", "identify", "birdnet",
                          str(listing), "-o", str(out), "--prior", "birdnet",
                          "--threshold", "0.5"], capture_output=True, text=True, env=env,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    assert "CC BY-NC-SA 4.0" in run.stderr  # the licence, the first time on this machine
    rows = pcsv.read_csv(out).to_pylist()
    assert [(r["start_s"], r["end_s"]) for r in rows] == [(0, 3), (3, 6), (6, 9)]
    assert all(r["taxon_1"].split()[0] in WOOD_WARBLERS for r in rows), rows
    assert all(r["expected_nearby"] for r in rows)  # warblers in New York in May
    assert all(0 < r["prior_score"] <= 1 for r in rows)
    found = pcsv.read_csv(out.with_name("birdnet.detections.csv")).to_pylist()
    assert found, "BirdNET detects nothing in a recording of singing warblers"
    keys = [(d["recording_id"], d["start_s"], -d["confidence"], d["taxon"]) for d in found]
    assert keys == sorted(keys)
    assert all((d["start_s"], d["end_s"]) in {(0, 3), (3, 6), (6, 9)} for d in found)
    assert all(0.1 <= d["confidence"] <= 1 for d in found)  # --min-conf's default
    summary = pcsv.read_csv(out.with_name("birdnet.recordings.csv")).to_pylist()
    assert {s["recording_id"] for s in summary} == {"birds"}
    assert {s["taxon"] for s in summary} == {d["taxon"] for d in found}
    for s in summary:  # every species detected, with its best window and confidence
        best = max((d for d in found if d["taxon"] == s["taxon"]),
                   key=lambda d: d["confidence"])
        assert s["best_confidence"] == pytest.approx(best["confidence"])
        assert s["best_start_s"] == best["start_s"] and s["common_name"] == best["common_name"]


def test_the_licence_is_printed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FIELDGUIDE_CACHE", str(tmp_path))
    birdnet.notice_licence()
    assert "CC BY-NC-SA 4.0" in capsys.readouterr().err
    birdnet.notice_licence()
    assert capsys.readouterr().err == ""
    readme = (REPO / "README.md").read_text()
    assert "CC BY-NC-SA 4.0" in readme and "BirdNET" in readme


def test_a_probe_on_birdnet_embeddings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDGUIDE_CACHE", str(tmp_path / "cache"))
    calls = write_calls(tmp_path / "calls", ("tone", "trill"), per_class=3, seconds=3.0)
    card = train_sound_probe(calls, tmp_path / "model", encoder="birdnet")
    assert card.extras["birdnet"]["licence"] == birdnet.LICENCE
    assert read_card(tmp_path / "model").embeddings_from["backbone"] == "birdnet-v2.4"
    rng = np.random.default_rng(5)
    for kind in ("tone", "trill"):
        sf.write(tmp_path / f"{kind}.wav", call(kind, 3.0, rng), RATE)
    (tmp_path / "new.csv").write_text("recording_id,path\ntone,tone.wav\ntrill,trill.wav\n")
    result, _ = identify_recordings(tmp_path / "model", tmp_path / "new.csv",
                                    tmp_path / "out.parquet")
    got = dict(zip(result.windows.column("recording_id").to_pylist(),
                   result.windows.column("taxon_1").to_pylist(), strict=True))
    assert got == {"tone": "tone", "trill": "trill"}
