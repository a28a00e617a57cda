"""BirdNET's head is multi-label: its windows are also read as detections (a sigmoid per
class, BirdNET's sensitivity, above --min-conf), so two birds calling in one window are both
detected, while the decision columns stay those of the softmax. Checked here on logits
written by hand (no extra needed); the BirdNET test runs the shipped recording."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from fieldguide.errors import InputError
from fieldguide.identification.decision import Rule
from fieldguide.identification.inputs import from_columns
from fieldguide.sound.birdnet import Detection
from fieldguide.sound.identify import WindowScores, decide_windows
from fieldguide.sound.settings import SoundSettings

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["Turdus merula", "Erithacus rubecula", "Engine"]
WINDOWS = SoundSettings("birdnet-probe", 48_000, 3.0, 3.0)


@dataclass
class MultiLabel:
    """A three-class multi-label head, as BirdNET's own (no model behind it: the logits are
    given)."""

    settings: SoundSettings = WINDOWS
    classes: list[str] = field(default_factory=lambda: list(CLASSES))
    lineage: dict[str, dict[str, str]] = field(default_factory=lambda: {
        c: {"genus": c.split()[0], "species": c} for c in CLASSES[:2]})
    common: list[str] | None = field(
        default_factory=lambda: ["Eurasian Blackbird", "European Robin", "Engine"])
    temperature: float = 1.0
    name: str = "multi-label"
    multi_label: bool = True

    def score(self, windows: np.ndarray) -> tuple[np.ndarray, None]:
        raise AssertionError("not called: the scores are given")


def _scores() -> tuple[WindowScores, object]:
    """Recording "a": three windows, the middle one with a blackbird AND a robin; recording
    "b" could not be read (one NaN row)."""
    logits = np.array([[2.0, -6.0, -9.0],     # a 0-3: blackbird
                       [3.0, 2.5, -9.0],      # a 3-6: both birds
                       [-6.0, 1.0, -1.0],     # a 6-9: robin (engine at 0.27 too)
                       [np.nan] * 3])         # b: unreadable
    scores = WindowScores(np.array([0, 0, 0, 1]), np.array([0.0, 3.0, 6.0, np.nan]),
                          np.array([3.0, 6.0, 9.0, np.nan]), logits,
                          ["", "", "", "not a recording libsndfile can read"])
    recordings = from_columns({"photo_id": ["a", "b"], "path": ["a.wav", "b.wav"]},
                              Path("."), Path("listing.csv"))
    return scores, recordings


def test_two_birds_in_one_window_are_both_detected() -> None:
    scores, recordings = _scores()
    result = decide_windows(scores, recordings, MultiLabel(), rule=Rule(threshold=0.5))
    assert result.detections is not None
    got = result.detections.to_pylist()
    sigmoid = 1 / (1 + np.exp(-np.array([2.0, 3.0, 2.5, 1.0, -1.0])))
    assert [(d["recording_id"], d["start_s"], d["end_s"], d["taxon"]) for d in got] == [
        ("a", 0, 3, "Turdus merula"), ("a", 3, 6, "Turdus merula"),
        ("a", 3, 6, "Erithacus rubecula"), ("a", 6, 9, "Erithacus rubecula"),
        ("a", 6, 9, "Engine")]
    assert [d["confidence"] for d in got] == pytest.approx(sigmoid.tolist())
    assert got[2]["common_name"] == "European Robin"
    # The decision columns stay the softmax's: one taxon per window.
    assert result.windows.column("taxon").to_pylist()[:3] == [
        "Turdus merula", "Turdus merula", "Erithacus rubecula"]
    # The summary lists every species detected, most confident first, with its best window.
    summary = [r for r in result.recordings.to_pylist() if r["recording_id"] == "a"]
    assert [(s["taxon"], s["windows"], s["best_start_s"]) for s in summary] == [
        ("Turdus merula", 2, 3.0), ("Erithacus rubecula", 2, 3.0), ("Engine", 1, 6.0)]
    assert summary[0]["best_confidence"] == pytest.approx(sigmoid[1])
    assert summary[0]["rank"] == "species" and summary[2]["rank"] is None
    assert [s["auto_validated"] for s in summary] == [True, True, False]  # robin at 6-9
    assert 0 < summary[1]["best_probability"] < 0.5  # the softmax shares the window
    b = [r for r in result.recordings.to_pylist() if r["recording_id"] == "b"]
    assert len(b) == 1 and b[0]["taxon"] is None and b[0]["error"]


def test_min_conf_and_sensitivity_change_what_is_detected() -> None:
    scores, recordings = _scores()
    strict = decide_windows(scores, recordings, MultiLabel(), rule=Rule(),
                            detection=Detection(min_conf=0.93))
    assert strict.detections is not None
    assert strict.detections.column("taxon").to_pylist() == ["Turdus merula"]  # only 3.0
    steep = decide_windows(scores, recordings, MultiLabel(), rule=Rule(),
                           detection=Detection(min_conf=0.93, sensitivity=1.5))
    assert steep.detections is not None and steep.detections.num_rows == 3  # 2.0 and 2.5 too
    assert max(steep.detections.column("confidence").to_pylist()) <= 1.0


@pytest.mark.parametrize(("min_conf", "sensitivity"),
                         [(0.0, 1.0), (1.0, 1.0), (float("nan"), 1.0), (0.1, 0.2), (0.1, 2.0)])
def test_out_of_range_options_are_refused(min_conf: float, sensitivity: float) -> None:
    with pytest.raises(InputError):
        Detection(min_conf, sensitivity)


def test_a_softmax_head_has_no_detections() -> None:
    scores, recordings = _scores()
    result = decide_windows(scores, recordings, MultiLabel(multi_label=False), rule=Rule())
    assert result.detections is None
    assert "best_confidence" not in result.recordings.column_names


def test_identify_refuses_min_conf_out_of_range_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}",
           "FIELDGUIDE_CACHE": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-m", "fieldguide.cli.main", "identify", "birdnet",
                          str(tmp_path), "-o", str(tmp_path / "out.csv"), "--min-conf", "1.5"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "--min-conf" in run.stderr, run.stderr
    assert not (tmp_path / "out.csv").exists()
