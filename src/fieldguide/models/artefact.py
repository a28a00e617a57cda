"""The model artefact: a folder with ``model.safetensors`` + ``model.json`` (+ ``model.onnx``).

``model.json`` says everything needed to use the weights without the training code: backbone,
heads and their classes, the classes' taxonomy, preprocessing, the training spec, metrics, the
training class counts (for prior correction) and a calibration temperature slot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fieldguide.errors import InputError
from fieldguide.models.heads import FieldguideNet, HeadSpec
from fieldguide.models.registry import Preprocessing, create_backbone

FORMAT = "fieldguide-model/1"


@dataclass
class ModelCard:
    """What ``model.json`` holds."""

    backbone: str
    heads: list[HeadSpec]
    preprocessing: Preprocessing
    taxonomy: dict[str, dict[str, str]] = field(default_factory=dict)
    weights: str = "random"
    dropout: float = 0.0
    train_counts: dict[str, list[int]] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    temperature: float | None = None
    onnx: str | None = None

    @property
    def primary(self) -> HeadSpec:
        """The head that identifies: the species head, else the first one."""
        return next((h for h in self.heads if h.kind == "species"), self.heads[0])

    def head(self, name: str) -> HeadSpec:
        for h in self.heads:
            if h.name == name:
                return h
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "backbone": self.backbone, "weights": self.weights,
            "heads": [h.to_dict() for h in self.heads], "primary": self.primary.name,
            "outputs": "logits; log-probabilities for rank heads (softmax gives probabilities)",
            "taxonomy": self.taxonomy, "preprocessing": self.preprocessing.to_dict(),
            "dropout": self.dropout, "train_counts": self.train_counts, "spec": self.spec,
            "metrics": self.metrics, "temperature": self.temperature, "onnx": self.onnx,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCard:
        if d.get("format") != FORMAT:
            raise InputError(f"not a {FORMAT} model.json", field="format")
        return cls(
            backbone=d["backbone"], heads=[HeadSpec.from_dict(h) for h in d["heads"]],
            preprocessing=Preprocessing.from_dict(d["preprocessing"]), taxonomy=d["taxonomy"],
            weights=d["weights"], dropout=float(d.get("dropout", 0.0)),
            train_counts=d.get("train_counts", {}), spec=d.get("spec", {}),
            metrics=d.get("metrics", {}), temperature=d.get("temperature"), onnx=d.get("onnx"))


def build_model(card: ModelCard, weights: str | Path | None = None) -> FieldguideNet:
    """A network shaped as the card says (backbone weights optional, heads fresh)."""
    backbone = create_backbone(card.backbone, weights, num_classes=0)
    return FieldguideNet(backbone, card.heads, card.taxonomy, card.dropout)


def write_card(card: ModelCard, folder: Path) -> Path:
    """(Re)write ``model.json`` only, e.g. after calibration fills the temperature."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.json"
    path.write_text(json.dumps(card.to_dict(), indent=2, default=str) + "\n")
    return path


def read_card(folder: Path) -> ModelCard:
    path = Path(folder) / "model.json"
    if not path.is_file():
        raise InputError("not a model folder (no model.json)", path=folder)
    return ModelCard.from_dict(json.loads(path.read_text()))


def save_model(model: FieldguideNet, card: ModelCard, folder: Path) -> Path:
    """Write the weights (safetensors: tensors only, safe to load) and the card."""
    from safetensors.torch import save_model as save_tensors

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_tensors(model, str(folder / "model.safetensors"))
    write_card(card, folder)
    return folder


def load_model(folder: Path) -> tuple[FieldguideNet, ModelCard]:
    """The network in eval mode and its card."""
    from safetensors.torch import load_model as load_tensors

    card = read_card(folder)
    model = build_model(card)
    load_tensors(model, str(Path(folder) / "model.safetensors"))
    return model.eval(), card
