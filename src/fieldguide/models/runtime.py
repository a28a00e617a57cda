"""Identification with ONNX Runtime, NumPy and Pillow only: importing this never imports torch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.models.preprocess import eval_array, open_rgb


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


class OnnxModel:
    """An artefact folder's ``model.onnx`` with its ``model.json``."""

    def __init__(self, folder: Path) -> None:
        import onnxruntime as ort

        self.card: dict[str, Any] = json.loads((Path(folder) / "model.json").read_text())
        if not self.card.get("onnx"):
            raise FileNotFoundError(f"{folder}: the artefact has no ONNX export")
        self.session = ort.InferenceSession(str(Path(folder) / self.card["onnx"]),
                                            providers=["CPUExecutionProvider"])
        self.heads = [h["name"] for h in self.card["heads"]]

    def classes(self, head: str | None = None) -> list[str]:
        name = head or self.card["primary"]
        return next(list(h["classes"]) for h in self.card["heads"] if h["name"] == name)

    def predict(self, images: Sequence[str | Path]) -> dict[str, np.ndarray]:
        """Probabilities per head for photo files (temperature applied when calibrated)."""
        batch = np.stack([eval_array(open_rgb(p), self.card["preprocessing"]) for p in images])
        outputs = self.session.run(None, {"image": batch})
        t = float(self.card.get("temperature") or 1.0)
        return {n: softmax(o, t) for n, o in zip(self.heads, outputs, strict=True)}
