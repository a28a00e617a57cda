"""A model artefact as identification sees it: ``model.json`` + ``model.onnx`` run by ONNX
Runtime. Only JSON is read here (the artefact's own readers import torch), so identification
stays a NumPy/Pillow/ONNX Runtime program."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.decision import ClassTree, class_tree
from fieldguide.identification.decode import Crop, normalise


def read_model_json(folder: Path) -> dict[str, Any]:
    path = Path(folder) / "model.json"
    if not path.is_file():
        raise InputError("not a model folder (no model.json)", path=folder)
    card: dict[str, Any] = json.loads(path.read_text())
    return card


def update_model_json(folder: Path, **changes: Any) -> None:
    """Set top-level keys of ``model.json`` (e.g. the calibration temperature), keeping every
    other key as written, with an atomic replace so a crash never leaves half a file."""
    card = read_model_json(folder)
    card.update(changes)
    path = Path(folder) / "model.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card, indent=2, default=str) + "\n")
    os.replace(tmp, path)


class Classifier:
    """The primary head of an artefact's ONNX export, on uint8 crops (batched)."""

    def __init__(self, folder: Path, threads: int = 2, onnx: Path | None = None) -> None:
        import onnxruntime as ort

        self.folder = Path(folder)
        self.card = read_model_json(self.folder)
        path = onnx or (self.folder / str(self.card.get("onnx") or "model.onnx"))
        if not path.is_file():
            raise InputError("the artefact has no ONNX export", path=path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = path
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.primary = str(self.card.get("primary") or self.card["heads"][0]["name"])
        head = next(h for h in self.card["heads"] if h["name"] == self.primary)
        self.classes: list[str] = list(head["classes"])
        prep = self.card["preprocessing"]
        self.crop = Crop.from_card(prep)
        self.mean, self.std = prep["mean"], prep["std"]

    @property
    def temperature(self) -> float:
        return float(self.card.get("temperature") or 1.0)

    def tree(self) -> ClassTree:
        return class_tree(self.classes, self.card.get("taxonomy") or {})

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """(n, size, size, 3) uint8 -> (n, K) float32 logits of the primary head."""
        x = normalise(crops, self.mean, self.std)
        out = self.session.run([self.primary], {self.input_name: x})[0]
        return np.asarray(out, dtype=np.float32)

    def identity(self) -> str:
        """What the logits depend on (resume refuses parts written by another model)."""
        st = self.path.stat()
        return f"{self.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{self.crop}"
